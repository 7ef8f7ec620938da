from vodkit_packager.app import create_app
from vodkit_packager.settings import PackagerSettings
from vodkit_shared.runner import serve_main

serve_main(create_app, PackagerSettings())
