"""`appliance serve` started as a user starts it, for the end-to-end tests of its lines."""

import asyncio
import sys


class Serving:
    """A running `appliance serve` and every line it has logged so far (`said`)."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.said: list[str] = []

    @classmethod
    async def start(cls, env: dict) -> "Serving":
        return cls(await asyncio.create_subprocess_exec(sys.executable, "-m", "appliance", "serve", env=env,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT))

    async def read_until(self, word: str) -> None:
        """Read what serve logs until a line has `word` in it; serve ending first fails the test with its log."""
        while not any(word in line for line in self.said):
            line = await self.process.stdout.readline()
            assert line, "serve ended:\n" + "".join(self.said)
            self.said.append(line.decode())

    def logged_since(self, mark: int, text: str) -> bool:
        """Whether a line logged after the first `mark` has `text` in it."""
        return any(text in line for line in self.said[mark:])

    async def stop(self, draining: asyncio.Task | None, timeout_s: float) -> None:
        """Stop serve as systemd does (SIGTERM): it must exit cleanly, within `timeout_s`, and the task reading its
        log (`draining`) ends with its output."""
        self.process.terminate()
        assert await asyncio.wait_for(self.process.wait(), timeout_s) == 0, "".join(self.said)
        if draining is not None:
            await asyncio.gather(draining, return_exceptions=True)
