"""The licences of the models the service runs: the one table of them. The weights bundle's manifest records each
artifact's (``inference_container/diffrhythm/bundle/``), and the API's root and health answers name them, so that a
deployment (a paid one: the frontend sends ``payment_intent_id``) knows what it runs on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Licence:
    """The terms an artifact is published under."""

    id: str  # SPDX identifier, or the Hub's licence tag where there is none
    name: str
    url: str
    non_commercial: bool  # True: no commercial use at all
    terms: str = ""  # what else a deployment must know

    def entry(self) -> dict[str, Any]:
        """The manifest's (and ``Bundle.licences``') record of this licence."""
        return {"licence": self.id, "name": self.name, "url": self.url, "non_commercial": self.non_commercial,
                "terms": self.terms}


APACHE = Licence("Apache-2.0", "Apache License 2.0", "https://www.apache.org/licenses/LICENSE-2.0", False)
MIT = Licence("MIT", "MIT License", "https://opensource.org/license/mit", False)
CC_BY_NC = Licence("CC-BY-NC-4.0", "Creative Commons Attribution-NonCommercial 4.0",
                   "https://creativecommons.org/licenses/by-nc/4.0/", True,
                   "non-commercial use only, with attribution")
STABLE_AUDIO = Licence("stable-audio-community", "Stability AI Community License",
                       "https://huggingface.co/ASLP-lab/DiffRhythm-vae", False,
                       "research, non-commercial use, and commercial use by organisations or individuals with less "
                       "than USD 1M in annual revenue; above that, an Enterprise licence from Stability AI")


@dataclass(frozen=True)
class Component:
    """A model the service runs, the bundle artifacts it is made of (``bundle.sources.ARTIFACTS``' names, or the part
    before a "/"), and their licence."""

    name: str
    artifacts: tuple[str, ...]
    licence: Licence


COMPONENTS: tuple[Component, ...] = (
    Component("DiffRhythm DiT (ASLP-lab)", ("dit-95s", "dit-full", "dit-config", "negative-style"), APACHE),
    Component("DiffRhythm VAE (Stable Audio Open's decoder)", ("vae",), STABLE_AUDIO),
    Component("MuQ-MuLan style encoder (OpenMuQ)", ("muq-mulan", "muq-audio-tower"), CC_BY_NC),
    Component("XLM-RoBERTa (MuQ-MuLan's text tower)", ("muq-text-tower",), MIT),
    Component("G2P data (DiffRhythm's vocabulary, Mandarin lexicon and polyphone model)",
              ("vocab", "chinese-lexicon", "chinese-g2p"), APACHE),
    Component("htdemucs stem separator (Meta)", ("stems",), MIT),
    Component("Whisper large-v3-turbo (OpenAI), the lyric check's transcriber", ("whisper",), MIT),
)


def licence_of(artifact: str) -> Licence:
    """The licence of a bundle artifact, by its name (``chinese-g2p/vocab.txt`` by its group ``chinese-g2p``).

    Example
    -------
    >>> licence_of("muq-mulan").id, licence_of("chinese-g2p/polychar.txt").id
    ('CC-BY-NC-4.0', 'Apache-2.0')
    """
    group = artifact.split("/", 1)[0]
    for component in COMPONENTS:
        if group in component.artifacts:
            return component.licence
    raise KeyError(f"no licence recorded for the artifact {artifact!r}")


def summary() -> list[dict[str, Any]]:
    """What the API shows: each component, its licence and terms."""
    return [{"component": c.name, **c.licence.entry()} for c in COMPONENTS]


def non_commercial() -> bool:
    """Whether any model the service runs forbids commercial use."""
    return any(c.licence.non_commercial for c in COMPONENTS)
