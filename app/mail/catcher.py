"""`tracker catcher`: a local SMTP server (aiosmtpd) that keeps every message it
receives as a .eml file, so `tracker dev` shows the mail with no mail server set up."""

from __future__ import annotations

import asyncio
import functools
import os
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class FolderHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        name = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}.eml"
        partial = self.folder / f".{name}.part"
        partial.write_bytes(content)
        os.replace(partial, self.folder / name)  # a reader never sees half a message
        return "250 Message accepted"


async def serve(handler: Any, host: str, port: int) -> asyncio.Server:
    """An SMTP server on the running loop (no thread), handing messages to `handler`."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        functools.partial(SMTP, handler, hostname="tracker-catcher"), host, port
    )


async def run(folder: Path, host: str, port: int, stop: asyncio.Event) -> None:
    server = await serve(FolderHandler(folder), host, port)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()


def caught(folder: Path) -> list[Path]:
    """The .eml files, newest first."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.eml"), reverse=True)
