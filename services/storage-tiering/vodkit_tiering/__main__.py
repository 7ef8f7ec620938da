from vodkit_shared.runner import serve_main
from vodkit_tiering.app import create_app
from vodkit_tiering.settings import TieringSettings

serve_main(create_app, TieringSettings())
