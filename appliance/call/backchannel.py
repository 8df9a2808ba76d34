"""What a caller says only to show they are listening: "mm-hm", "okay, sure", "right, I see".

English backchannels are a small closed class, like its pronouns: acknowledgements, agreement tokens and hums.
Only a long stretch of voice over the reply is judged by its words (a short one is a backchannel by its length),
and a recognizer hears such a stretch's words well; a hum it often mishears, which is why a hum is never judged
by its words. Anything else said over the reply ("okay, but...", "wait", "no") is an interruption.
"""

from __future__ import annotations

import re

WORDS = frozenset((
    "yeah", "yes", "yep", "yup", "ya", "yah", "okay", "ok", "okey", "right", "alright", "sure", "fine", "good", "great",
    "cool", "nice", "perfect", "exactly", "absolutely", "definitely", "certainly", "true", "indeed", "understood",
    "gotcha", "wow", "thanks", "cheers",
))
PHRASES = ("i see", "got it", "all right", "thank you", "go on", "go ahead", "of course", "that's right",
           "that's fine", "sounds good", "makes sense", "fair enough", "no problem", "i understand")
# Hums and hesitations as recognizers spell them: "mm", "hmm", "mhm", "uh", "um", "ah", "oh", "huh", "uh-huh", "erm".
HUM_PART = r"(?:h*m+(?:h+m+)?|u+[hm]+|a+h+|o+h+|h+u+h+|e+r+m*)"
HUM = re.compile(rf"{HUM_PART}(?:-{HUM_PART})*")


def is_backchannel(text: str | None) -> bool:
    """Whether a transcript holds nothing but backchannels (no words at all, as for a cough, counts); None (the
    recognizer failed) does not."""
    if text is None:
        return False
    said = re.sub(r"[^a-z'-]+", " ", text.lower().replace("’", "'"))
    for phrase in PHRASES:
        said = re.sub(rf"(?<![a-z']){re.escape(phrase)}(?![a-z'])", " ", said)
    return all(word in WORDS or HUM.fullmatch(word) for word in said.split())
