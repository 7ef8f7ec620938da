from vodkit_cdn_purge.app import create_app
from vodkit_cdn_purge.settings import CdnPurgeSettings
from vodkit_shared.runner import serve_main

serve_main(create_app, CdnPurgeSettings())
