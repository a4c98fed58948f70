# The lecture notes' threading example 2, with a shorter sleep: the main
# thread joins the sub-thread, so "sub-thread end" is always printed.
from threading import Thread
import time, os

def sub_thread():
    print("sub-thread begin")
    print("sub-thread pid: %s" % os.getpid())
    time.sleep(0.5)
    print("sub-thread end")

print("main-thread begin")
print("main-thread pid: %s" % os.getpid())
thread = Thread(target=sub_thread)
thread.start()
thread.join()
print("main-thread end")
