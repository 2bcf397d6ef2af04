"""Runs nftables scripts through libnftables (the library behind the `nft` command), in-process.

Each `run()` is one netlink transaction: all of the script or none of it takes effect. Going
through the library instead of forking `nft -f -` saves a process start per change (the Debian
package `nftables` ships both; python3-nftables is the same binding, not on PyPI).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

LIBRARY = "libnftables.so.1"
_OUTPUT_BUFFER, _ERROR_BUFFER = 1 << 0, 1 << 1


class NftError(Exception):
    """A script was refused; the message is libnftables' error text (it names the line)."""


class Nft:
    """One libnftables context; calls are serialised (a context is not thread-safe)."""

    def __init__(self, library: str = LIBRARY) -> None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("nftables") or library)
        except OSError as e:
            raise NftError(f"libnftables not found ({e}): install the Debian package nftables") from e
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        self._lib = lib
        self._ctx = lib.nft_ctx_new(0)
        if not self._ctx:
            raise NftError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(self._ctx)
        lib.nft_ctx_buffer_error(self._ctx)
        self._lock = threading.Lock()

    def run(self, script: str) -> str:
        """Apply `script` atomically; returns what nft printed (for `list` commands)."""
        with self._lock:
            rc = self._lib.nft_run_cmd_from_buffer(self._ctx, script.encode())
            out = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode(errors="replace")
            err = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode(errors="replace")
        if rc != 0:
            raise NftError(err.strip() or f"nft failed with {rc}")
        return out

    def close(self) -> None:
        with self._lock:
            if self._ctx:
                self._lib.nft_ctx_free(self._ctx)
                self._ctx = None
