# The lecture notes' threading example 3, with a shorter sleep: the sub-thread
# is a daemon, so the program ends with the main thread and "sub-thread end"
# is never printed.
from threading import Thread
import time, os

def sub_thread():
    print("sub-thread begin")
    print("sub-thread pid: %s" % os.getpid())
    time.sleep(0.5)
    print("sub-thread end")

print("main-thread begin")
print("main-thread pid: %s" % os.getpid())
thread = Thread(target=sub_thread, daemon=True)
thread.start()
print("main-thread end")
