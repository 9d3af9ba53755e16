import os

UPLOADS = "/srv/uploads"


def open_upload(name):
    """Open a file a user uploaded, by the name they gave it."""
    return open(os.path.join(UPLOADS, name), "rb")
