# The lecture notes' multiprocessing example 2 exactly as printed, except for a
# shorter sleep: args=("sub_proc") is the string "sub_proc", not a tuple, so
# the child calls f('s', 'u', 'b', '_', 'p', 'r', 'o', 'c') and fails.
import multiprocessing, time, os

def f(proc_name):
	print("%s的进程ID: %s." % (proc_name, os.getpid()))
	print("%s的父进程ID: %s." % (proc_name, os.getppid()))
	time.sleep(0.2)
	print("进程%s is done." % os.getpid())

if __name__ == "__main__":
	print("%s的进程ID: %s." % (multiprocessing.current_process().name, os.getpid()))
	process = multiprocessing.Process(target=f, args=("sub_proc"))
	process.start()
	process.join()
	print("进程%s is done." % os.getpid())
