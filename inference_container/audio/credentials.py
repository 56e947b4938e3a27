"""Signed provenance: a C2PA manifest (Content Credentials) in every WAV, FLAC and MP3 the service writes, signed with
the deployment's key, and the check that a file came from this service unchanged.

A manifest says: ``c2pa.created`` by this service's generator (``softwareAgent``: the model), digital source type
``trainedAlgorithmicMedia`` (AI-generated, as the EU AI Act's marking asks), and the job id, model and its licences as
the action's parameters. A song made from another (an edit, an extension or a remix) is ``c2pa.opened`` from that
song, kept as an ingredient (its own manifest included, so a chain of edits stays readable), then ``c2pa.edited``.
The manifest binds the file's bytes by hash: changing one sample, or a tag, breaks it. The plain tags
(``provenance.py``) stay as they were; they are written before signing, so the manifest covers them too.

The key: an EC P-256 key (ES256) and its certificate chain, PEM, the signing certificate first and the root (the trust
anchor a verifier checks against) last; ``SigningKey.create`` makes a self-signed chain for a deployment without a
CA-issued certificate. Deployed, it lives in Secrets Manager (docs/operations.md: "Signed provenance").
"""

from __future__ import annotations

import datetime
import io
import json
from dataclasses import dataclass, field
from typing import Any

import c2pa
import numpy as np
import soundfile
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.formats import OutputFormat

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATOR = "DiffRhythm service"
MIME = {OutputFormat.WAV: "audio/wav", OutputFormat.FLAC: "audio/flac", OutputFormat.MP3: "audio/mpeg"}
_PEM_END = "-----END CERTIFICATE-----"


class CredentialsError(ValueError):
    """A signing key that cannot sign (a malformed secret, a key that does not match its certificate)."""


@dataclass(frozen=True)
class SigningKey:
    """The deployment's signing key and certificate chain (PEM)."""

    certificate_chain: str  # the signing certificate first, its issuers after, the root last
    private_key: str  # PKCS#8 PEM of an EC P-256 key

    @classmethod
    def from_secret(cls, value: str) -> SigningKey:
        """The key as stored in its secret: ``{"certificate_chain": PEM, "private_key": PEM}``."""
        try:
            data = json.loads(value)
            return cls(str(data["certificate_chain"]), str(data["private_key"]))
        except (ValueError, KeyError, TypeError) as error:
            raise CredentialsError("the signing secret must be JSON with certificate_chain and private_key (PEM)") \
                from error

    def to_secret(self) -> str:
        """The value to store in the secret (``from_secret`` reads it)."""
        return json.dumps({"certificate_chain": self.certificate_chain, "private_key": self.private_key})

    @property
    def anchor(self) -> str:
        """The chain's last certificate (PEM): what a verifier trusts."""
        certificates = [part + _PEM_END for part in self.certificate_chain.split(_PEM_END) if part.strip()]
        return certificates[-1].strip() + "\n"

    @classmethod
    def create(cls, organization: str, days: int = 3650, label: str = "") -> SigningKey:
        """A self-signed chain: a root (the anchor) and a signing certificate it issues (digital signature, email
        protection: what C2PA accepts of a signer), valid ``days``. ``label`` is added to both names (a test key says
        so)."""
        now = datetime.datetime.now(datetime.UTC)
        suffix = f" {label}" if label else ""

        def name(common: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common + suffix),
                              x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])

        def usage(sign_certificates: bool) -> x509.KeyUsage:
            return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                 data_encipherment=False, key_agreement=False, key_cert_sign=sign_certificates,
                                 crl_sign=sign_certificates, encipher_only=False, decipher_only=False)

        root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        valid = {"not_valid_before": now - datetime.timedelta(days=1),
                 "not_valid_after": now + datetime.timedelta(days=days)}
        root = (x509.CertificateBuilder(subject_name=name("provenance root"), issuer_name=name("provenance root"),
                                        public_key=root_key.public_key(), serial_number=x509.random_serial_number(),
                                        **valid)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(usage(True), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
                .sign(root_key, hashes.SHA256()))
        leaf = (x509.CertificateBuilder(subject_name=name("song signer"), issuer_name=root.subject,
                                        public_key=key.public_key(), serial_number=x509.random_serial_number(), **valid)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(usage(False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                               critical=False)
                .sign(root_key, hashes.SHA256()))
        chain = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in (leaf, root)).decode()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        return cls(chain, pem)


@dataclass(frozen=True)
class Source:
    """The song a new one was made from: its file as stored, and how it was used (``edit``, ``extend``, ``remix``)."""

    data: bytes
    how: str
    job_id: str | None = None


@dataclass(frozen=True)
class Origin:
    """What a file's manifest says of it."""

    job_id: str
    model: str
    title: str
    licences: dict[str, str] = field(default_factory=dict)  # artifact -> licence id
    source: Source | None = None


class ContentSigner:
    """Signs files with one ``SigningKey`` (its certificate chain goes into every manifest)."""

    def __init__(self, key: SigningKey) -> None:
        """Raises ``CredentialsError`` at once for a key that cannot sign (checked on a tiny file), not at the first
        song."""
        probe = io.BytesIO()
        soundfile.write(probe, np.zeros((1, 2), dtype=np.float32), 8000, format="WAV")
        try:
            self._signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
                b"es256", key.certificate_chain.encode(), key.private_key.encode(), None))
            self.sign(probe.getvalue(), OutputFormat.WAV, Origin("probe", GENERATOR, "probe"))
        except c2pa.C2paError as error:
            raise CredentialsError(f"the signing key cannot sign: {error}") from error

    def sign(self, data: bytes, fmt: OutputFormat, origin: Origin) -> bytes:
        """``data`` (a file in ``fmt``) with a manifest for ``origin`` embedded."""
        mime = MIME[OutputFormat(fmt)]
        parameters = {"job_id": origin.job_id, "model": origin.model, "licences": origin.licences}
        actions: list[dict[str, Any]] = [{"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE,
                                          "softwareAgent": {"name": origin.model}, "parameters": parameters}]
        if origin.source is not None:
            actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["source"]}},
                       {"action": "c2pa.edited", "digitalSourceType": DIGITAL_SOURCE_TYPE,
                        "softwareAgent": {"name": origin.model}, "description": origin.source.how,
                        "parameters": {**parameters, "source_job": origin.source.job_id}}]
        manifest = {"claim_generator_info": [{"name": GENERATOR}], "title": origin.title,
                    "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}]}
        out = io.BytesIO()
        with c2pa.Builder(manifest) as builder:
            if origin.source is not None:
                builder.add_ingredient({"title": f"{origin.source.how} source", "relationship": "parentOf",
                                        "label": "source"}, _sniff(origin.source.data), io.BytesIO(origin.source.data))
            builder.sign(self._signer, mime, io.BytesIO(data), out)
        return out.getvalue()


@dataclass(frozen=True)
class Verdict:
    """Whether a file came from this service unchanged (``ours``), why not (``problems``), and what its manifest says
    (empty where it has none)."""

    ours: bool
    problems: list[str]
    manifest: dict[str, Any]

    @property
    def job_id(self) -> str | None:
        """The job that made the file, as its manifest says."""
        for action in self.manifest.get("assertions", [{}])[0].get("data", {}).get("actions", []):
            if "job_id" in action.get("parameters", {}):
                return str(action["parameters"]["job_id"])
        return None


def verify(data: bytes, anchor: str) -> Verdict:
    """Check ``data`` (a WAV, FLAC or MP3) against the deployment's trust ``anchor`` (PEM): ours when it carries a
    manifest whose signature chains to the anchor and whose hashes match the bytes."""
    settings = c2pa.Settings()
    settings.update({"verify": {"verify_trust": True}, "trust": {"trust_anchors": anchor}})
    try:
        mime = _sniff(data)
    except ValueError as error:
        return Verdict(False, [str(error)], {})
    try:
        with c2pa.Context(settings) as context, c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
            state = reader.get_validation_state()
            results = reader.get_validation_results() or {}
            manifest = reader.get_active_manifest() or {}
    except c2pa.C2paError as error:  # no manifest, or one too broken to read
        return Verdict(False, [f"no readable Content Credentials: {type(error).__name__}"], {})
    failures = [f"{item.get('code')}: {item.get('explanation', '')}".strip(": ")
                for item in results.get("activeManifest", {}).get("failure", [])]
    if state != "Trusted" and not failures:
        failures.append(f"signed, but not by this service (validation state {state})")
    return Verdict(not failures, failures, manifest)


def _sniff(data: bytes) -> str:
    """The MIME type of an audio file from its first bytes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"fLaC":
        return "audio/flac"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    raise ValueError("not a WAV, FLAC or MP3 file")
