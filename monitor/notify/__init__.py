"""Alerts: channels (config -> apprise handles, routing), render (pure text), deliver (outbox
sweeps over the ``Outbox`` port). The only package that calls apprise."""

from __future__ import annotations

from .channels import ChannelHandle, Mode, build_channels, channels_for
from .deliver import Deliverer, deliver_channel, retry_delay, send, send_test
from .render import Message, escape_markdown, plain, render, render_batch, render_digest

__all__ = [
    "ChannelHandle",
    "Deliverer",
    "Message",
    "Mode",
    "build_channels",
    "channels_for",
    "deliver_channel",
    "escape_markdown",
    "plain",
    "render",
    "render_batch",
    "render_digest",
    "retry_delay",
    "send",
    "send_test",
]
