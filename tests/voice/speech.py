"""Test speech: espeak-ng sentences in the six languages, converted with ffmpeg, and word error rate."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

# Reference sentences (what an operator might say), one per language. Keys are the service's codes.
SENTENCES: dict[str, str] = {
    "en": "The net cleaner stopped during the wash. Check the water pump pressure and clean the filter.",
    "el": "Το μηχάνημα σταμάτησε κατά το πλύσιμο. Ελέγξτε την πίεση της αντλίας νερού και καθαρίστε το φίλτρο.",
    "ar": "توقفت الآلة أثناء الغسيل. تحقق من ضغط مضخة الماء ونظف المرشح.",
    "es": "La máquina se detuvo durante el lavado. Compruebe la presión de la bomba de agua y limpie el filtro.",
    "tr": "Makine yıkama sırasında durdu. Su pompasının basıncını kontrol edin ve filtreyi temizleyin.",
    "no": "Maskinen stoppet under vaskingen. Kontroller trykket i vannpumpen og rengjør filteret.",
}
# About 37 s of English for the long-recording test (partial transcripts, several segments).
LONG_TEXT = (
    "The net cleaner stopped during the wash. Check the water pump pressure and clean the filter. "
    "If the display shows a warning, write down the code and switch the machine off. Open the cover of "
    "the control box and look for loose cables. The high pressure hose must be free of kinks before you "
    "start again. Turn the main switch on and wait until the lamp is green. Lower the cleaning head into "
    "the water slowly. When the pressure drops below one hundred bar, stop the pump and call the service "
    "team. Keep the operating hours in the logbook after every job."
)
# espeak-ng voice per language (espeak names Norwegian Bokmål "nb").
ESPEAK_VOICES = {"en": "en", "el": "el", "ar": "ar", "es": "es", "tr": "tr", "no": "nb"}
# ffmpeg arguments per container: webm/opus like a browser's MediaRecorder, and the other formats.
FORMATS: dict[str, list[str]] = {
    "webm": ["-c:a", "libopus", "-b:a", "32k", "-f", "webm"],
    "wav": ["-c:a", "pcm_s16le", "-f", "wav"],
    "ogg": ["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "48k", "-f", "mp3"],
    "m4a": ["-c:a", "aac", "-b:a", "48k", "-f", "ipod"],
}


def tools_available() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("ffmpeg"))


def speak(text: str, lang: str, out_wav: Path, *, speed: int = 150) -> Path:
    """Synthesize ``text`` with espeak-ng into a WAV file."""
    subprocess.run(["espeak-ng", "-v", ESPEAK_VOICES[lang], "-s", str(speed), "-w", str(out_wav), text],
                   check=True, capture_output=True)
    return out_wav


def convert(src: Path, fmt: str, out: Path, *, extra: list[str] | None = None) -> Path:
    """Convert ``src`` to ``fmt`` (a key of FORMATS) with ffmpeg, mono 48 kHz like a browser recording."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-ac", "1", "-ar",
                    "48000", *(extra or []), *FORMATS[fmt], str(out)], check=True, capture_output=True)
    return out


def streamed_webm(src: Path) -> bytes:
    """webm written to a pipe, so without a duration in its header (as MediaRecorder produces)."""
    done = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(src), "-ac", "1",
                           *FORMATS["webm"], "pipe:1"], check=True, capture_output=True)
    return done.stdout


def silence(out: Path, seconds: float, fmt: str = "wav") -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "anullsrc=r=48000:cl=mono", "-t", str(seconds), *FORMATS[fmt], str(out)],
                   check=True, capture_output=True)
    return out


def concat(parts: list[Path], out: Path) -> Path:
    """Join WAV files (same rate) into one."""
    inputs: list[str] = []
    for part in parts:
        inputs += ["-i", str(part)]
    streams = "".join(f"[{i}:a]" for i in range(len(parts)))
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *inputs, "-filter_complex",
                    f"{streams}concat=n={len(parts)}:v=0:a=1[a]", "-map", "[a]", str(out)],
                   check=True, capture_output=True)
    return out


def normalize(text: str) -> list[str]:
    """Lower case, no punctuation, no diacritics (Greek tonos, Arabic harakat, Spanish accents)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c for c in decomposed if not unicodedata.category(c).startswith(("M", "P", "S")))
    kept = kept.replace("ı", "i")  # Turkish dotless i: Whisper writes it either way
    return re.sub(r"\s+", " ", kept).strip().split()


def _distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after :func:`normalize` (substitutions + deletions + insertions over reference words)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    return _distance(ref, hyp) / max(1, len(ref))


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate after :func:`normalize`, spaces removed."""
    ref, hyp = list("".join(normalize(reference))), list("".join(normalize(hypothesis)))
    return _distance(ref, hyp) / max(1, len(ref))
