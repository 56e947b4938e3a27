"""The whole control plane on this machine: a moto server (real HTTP), the template's resources, the event
dispatcher and the API under uvicorn. The CLI's ``diffrhythm local`` and the tests both use it.

Callers authenticate as in AWS: API keys seeded into the keys table (``keys``), and users signed in to the moto user
pool (``sign_up``), whose tokens the API verifies against the moto server's keys. Only when asked
(``allow_anonymous``) does it accept requests without credentials, and it says so loudly.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

os.environ.setdefault("MOTO_DISABLE_GLOBAL_CORS", "true")  # bucket CORS must behave as configured
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # before the handlers' loggers exist
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no CloudWatch here: don't print EMF blobs

import uvicorn
from moto.server import ThreadedMotoServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from functions.api.app import create_app
from infrastructure.local.dispatcher import Dispatcher
from infrastructure.local.resources import LOCAL_WEBHOOK_SECRET, LocalResources, create_all
from shared.accounts import ApiKey, KeyStore
from shared.aws import client
from shared.settings import Settings, get_settings
from shared.webhooks import key_secret

WEB = Path(__file__).with_name("web")
LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
    "BUCKET_NAME": "diffrhythm-local", "TABLE_NAME": "diffrhythm-jobs", "KEYS_TABLE_NAME": "diffrhythm-keys",
    "ALLOW_INSECURE_WEBHOOKS": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "DiffRhythm", "POWERTOOLS_TRACE_DISABLED": "true",
}
#: the local worker's settings (in process, or the image: infrastructure/local/container.py): short polls and beats
LOCAL_WORKER: dict[str, float] = {"poll_wait_s": 1, "heartbeat_s": 10, "visibility_s": 60, "progress_interval_s": 0.5}
logger = logging.getLogger(__name__)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalStack(AbstractContextManager["LocalStack"]):
    """Start with ``with LocalStack(...) as stack:``; ``stack.api_url`` and ``stack.settings`` describe it.

    Parameters
    ----------
    env
        Settings to apply on top of ``LOCAL_ENV`` (e.g. ``RATE_LIMIT_PER_HOUR``); they are exported to this process,
        because the handlers read their settings from the environment as in Lambda. They also win over what the
        stack derives from its resources (e.g. ``OIDC_ISSUER`` for another issuer).
    keys
        API key tokens (20+ characters) and the customer each belongs to, created in the keys table at start
        (``KeyStore.create(customer, value=token)``); ``api_keys`` then holds each token's ``ApiKey``.
    allow_anonymous
        Accept requests without credentials, as the owner "anonymous" (never in AWS: the API refuses it in Lambda).
    api_port
        Port of the API (a free one when 0).
    """

    def __init__(self, env: dict[str, str] | None = None, api_port: int = 0, moto_port: int = 0, *,
                 keys: dict[str, str] | None = None, allow_anonymous: bool = False) -> None:
        self.overrides = dict(env or {})
        self.env = {**LOCAL_ENV, **self.overrides}
        if allow_anonymous:
            self.env["ALLOW_ANONYMOUS"] = "true"
        self.keys = dict(keys or {})
        self.api_keys: dict[str, ApiKey] = {}
        self.api_port = api_port or free_port()
        self.moto_port = moto_port or free_port()
        self.moto: ThreadedMotoServer | None = None
        self.server: uvicorn.Server | None = None
        self.dispatcher: Dispatcher | None = None
        self.resources: LocalResources | None = None
        self.settings: Settings | None = None
        self.worker: Any = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def start_aws(self) -> Settings:
        """Start the moto server and create the resources; exports and returns the settings."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self.moto.start()
        os.environ.update({**self.env, "AWS_ENDPOINT_URL": self.endpoint_url})
        get_settings.cache_clear()
        self.resources = created = create_all(get_settings())
        derived = {"QUEUE_URL": created.queue_url, "DLQ_URL": created.dlq_url,
                   "WEBHOOK_QUEUE_URL": created.webhook_queue_url, "WEBHOOK_SECRET_ID": created.webhook_secret_id,
                   "CONTENT_CREDENTIALS_SECRET_ID": created.content_credentials_secret_id,
                   "OIDC_ISSUER": created.oidc_issuer, "OIDC_JWKS_URL": created.oidc_jwks_url(self.endpoint_url),
                   "OIDC_AUDIENCES": created.user_pool_client_id}
        os.environ.update({**derived, **self.overrides})
        get_settings.cache_clear()
        self.settings = get_settings()
        if self.settings.allow_anonymous:
            logger.warning("%s\n!!! authentication is OFF: requests without credentials are accepted as the owner "
                           "'anonymous' (local stack only)\n%s", "!" * 100, "!" * 100)
        store = KeyStore(client("dynamodb", self.settings), self.settings.keys_table_name)
        self.api_keys = {token: store.create(customer, value=token)[0] for token, customer in self.keys.items()}
        self.dispatcher = Dispatcher(self.settings, created.events_queue_url)
        self.dispatcher.start()
        return self.settings

    def webhook_secret(self, token: str | None = None) -> str:
        """The secret that signs the webhooks of jobs submitted with API key ``token`` (one of ``keys``), or of jobs
        without a key: what a receiver verifies with."""
        return key_secret(LOCAL_WEBHOOK_SECRET, self.api_keys[token].key_id) if token else LOCAL_WEBHOOK_SECRET

    def sign_up(self, username: str, password: str) -> str:
        """A new user of the local user pool, signed in; returns their ID token (a JWT the API accepts as
        ``Authorization: Bearer``). ``username`` is an e-mail address and ``password`` must meet the template's
        policy (12+ characters with upper and lower case and a digit), as in AWS."""
        assert self.resources is not None and self.settings is not None, "start the stack first"
        idp = client("cognito-idp", self.settings)
        idp.admin_create_user(UserPoolId=self.resources.user_pool_id, Username=username, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": username},
                                              {"Name": "email_verified", "Value": "true"}])
        try:
            idp.admin_set_user_password(UserPoolId=self.resources.user_pool_id, Username=username, Password=password,
                                        Permanent=True)
        except idp.exceptions.InvalidPasswordException:  # no half-made user: the next try signs up again
            idp.admin_delete_user(UserPoolId=self.resources.user_pool_id, Username=username)
            raise
        return self.sign_in(username, password)

    def sign_in(self, username: str, password: str) -> str:
        """A fresh ID token of an existing user of the local user pool."""
        assert self.resources is not None and self.settings is not None, "start the stack first"
        result = client("cognito-idp", self.settings).admin_initiate_auth(
            UserPoolId=self.resources.user_pool_id, ClientId=self.resources.user_pool_client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH", AuthParameters={"USERNAME": username, "PASSWORD": password})
        token: str = result["AuthenticationResult"]["IdToken"]
        return token

    async def _page_sign_in(self, request: Request) -> JSONResponse:
        """The demo page's sign-in: an ID token of the local user pool for ``{username, password}``, the user made at
        their first sign-in. (A browser cannot call the moto server's Cognito itself: its CORS is off; in AWS a
        frontend signs in with Cognito directly.)"""
        body = await request.json()
        username, password = str(body.get("username", "")), str(body.get("password", ""))
        idp = client("cognito-idp", self.settings)
        try:
            try:
                return JSONResponse({"id_token": self.sign_in(username, password)})
            except idp.exceptions.UserNotFoundException:
                return JSONResponse({"id_token": self.sign_up(username, password)})
        except idp.exceptions.NotAuthorizedException:
            return JSONResponse({"detail": "sign-in refused: wrong user name or password"}, status_code=401)
        except (idp.exceptions.InvalidPasswordException, idp.exceptions.InvalidParameterException) as error:
            return JSONResponse({"detail": f"sign-in refused: {error.response['Error']['Message']}"}, status_code=401)

    def local_app(self) -> Starlette:
        """The API, plus the local demo page at ``/ui/`` and its sign-in (local only: production serves no pages)."""
        return Starlette(routes=[
            Route("/ui", lambda request: RedirectResponse("/ui/")),
            Route("/ui/sign-in", self._page_sign_in, methods=["POST"]),
            Mount("/ui", StaticFiles(directory=WEB, html=True)),
            Mount("/", create_app(self.settings)),
        ])

    def serve_api(self) -> None:
        """Run the API (and the demo page) under uvicorn in a background thread."""
        config = uvicorn.Config(self.local_app(), host="127.0.0.1", port=self.api_port, log_level="warning")
        self.server = uvicorn.Server(config)
        threading.Thread(target=self.server.run, name="api", daemon=True).start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the local API did not start within 20 s")
            time.sleep(0.02)

    def start_worker(self, weights_dir: str) -> Any:
        """A GPU worker on this machine's CPU, in a background thread (models loaded once)."""
        from inference_container.worker.main import build_worker
        from inference_container.worker.settings import WorkerSettings

        os.environ["WEIGHTS_DIR"] = weights_dir
        settings = WorkerSettings(**LOCAL_WORKER)
        self.worker = build_worker(settings)
        threading.Thread(target=self.worker.run, name="worker", daemon=True).start()
        return self.worker

    def __enter__(self) -> LocalStack:
        self.start_aws()
        self.serve_api()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> Any:
        self.stop()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop(grace_s=0)
        if self.server is not None:
            self.server.should_exit = True
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.moto is not None:
            self.moto.stop()
