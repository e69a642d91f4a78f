import sys

from mailbot.cli import main

if __name__ == "__main__":   # child processes (text extraction) must never start the command again
    sys.exit(main())
