# The lecture notes' multiprocessing example 3, with shorter sleeps: the child
# is a daemon process, ended when the parent exits, so its "is done" line is
# never printed.
import multiprocessing, time, os

def f(proc_name):
    print("%s的进程ID: %s." % (proc_name, os.getpid()), flush=True)
    print("%s的父进程ID: %s." % (proc_name, os.getppid()), flush=True)
    time.sleep(2)
    print("进程%s is done." % os.getpid(), flush=True)

if __name__ == "__main__":
    print("%s的进程ID: %s." % (multiprocessing.current_process().name, os.getpid()), flush=True)
    process = multiprocessing.Process(target=f, args=("sub_proc",), daemon=True)
    process.start()
    time.sleep(0.5)
    print("进程%s is done." % os.getpid(), flush=True)
