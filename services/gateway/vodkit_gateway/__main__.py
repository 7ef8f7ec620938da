from vodkit_gateway.app import create_app
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.runner import serve_main

serve_main(create_app, GatewaySettings())
