"""The six services, by name: how to build each one's settings and app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from vodkit_cdn_purge.app import create_app as cdn_purge_app
from vodkit_cdn_purge.settings import CdnPurgeSettings
from vodkit_gateway.app import create_app as gateway_app
from vodkit_gateway.settings import GatewaySettings
from vodkit_packager.app import create_app as packager_app
from vodkit_packager.settings import PackagerSettings
from vodkit_shared.settings import CommonSettings
from vodkit_tiering.app import create_app as tiering_app
from vodkit_tiering.settings import TieringSettings
from vodkit_transcoder.app import create_app as transcoder_app
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_upload.app import create_app as upload_app
from vodkit_upload.settings import UploadSettings


@dataclass(frozen=True)
class ServiceSpec:
    settings: Callable[..., CommonSettings]
    create_app: Callable[[Any], web.Application]


SERVICES: dict[str, ServiceSpec] = {
    "gateway": ServiceSpec(GatewaySettings, gateway_app),
    "upload": ServiceSpec(UploadSettings, upload_app),
    "transcoder": ServiceSpec(TranscoderSettings, transcoder_app),
    "packager": ServiceSpec(PackagerSettings, packager_app),
    "storage-tiering": ServiceSpec(TieringSettings, tiering_app),
    "cdn-purge": ServiceSpec(CdnPurgeSettings, cdn_purge_app),
}
