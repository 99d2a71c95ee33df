#!/usr/bin/env python
from gridcity.cli import main

if __name__ == "__main__":
    main()
