from vodkit_shared.runner import serve_main
from vodkit_upload.app import create_app
from vodkit_upload.settings import UploadSettings

serve_main(create_app, UploadSettings())
