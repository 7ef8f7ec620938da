from vodkit_shared.runner import serve_main
from vodkit_transcoder.app import create_app
from vodkit_transcoder.settings import TranscoderSettings

serve_main(create_app, TranscoderSettings())
