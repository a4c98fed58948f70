# The lecture notes' multiprocessing example 2, with a shorter sleep: the
# parent joins the child, so the child's "is done" line comes before the
# parent's.
import multiprocessing, time, os

def f(proc_name):
    print("%s的进程ID: %s." % (proc_name, os.getpid()), flush=True)
    print("%s的父进程ID: %s." % (proc_name, os.getppid()), flush=True)
    time.sleep(0.5)
    print("进程%s is done." % os.getpid(), flush=True)

if __name__ == "__main__":
    print("%s的进程ID: %s." % (multiprocessing.current_process().name, os.getpid()), flush=True)
    process = multiprocessing.Process(target=f, args=("sub_proc",))
    process.start()
    process.join()
    print("进程%s is done." % os.getpid(), flush=True)
