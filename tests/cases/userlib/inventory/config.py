import threading

created = 0
_instance = None
_lock = threading.Lock()


class Config:
    def __init__(self):
        global created
        created += 1


def get_config():
    """A lazy singleton: two threads may both find it missing."""
    global _instance
    if _instance is None:
        _instance = Config()
    return _instance


def get_config_locked():
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = Config()
    return _instance
