"""Telephone audio: G.711 codecs, resampling between line and model rates, WAV files.

Inside the appliance, audio is 16-bit signed mono PCM as numpy int16 arrays; the line rate is 8 kHz.
"""

LINE_RATE_HZ = 8000
FRAME_MS = 20
