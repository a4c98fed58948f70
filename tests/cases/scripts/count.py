import sys
print("pid 12345 says hello")
print("total:", 40 + int(sys.argv[1]))
sys.exit(int(sys.argv[2]))
