"""Binary readers. `open_images(path_or_bytes, display)` returns one BinaryImage per
architecture slice (one for ELF and PE, one per slice for universal Mach-O).
(Dispatch by magic number is implemented in auditor.binary.loader.)"""
