"""The GSM modem: the AT dialect, SMS coding, the asyncio driver, and a SIM7600 simulator on a pseudo-terminal."""
