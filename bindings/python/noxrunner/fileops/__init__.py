"""
File operations utilities (an INTERNAL module of noxrunner 2.0.0, kept so
code that imported it still works).
"""

from noxrunner.fileops.tar_handler import TarHandler

__all__ = ["TarHandler"]
