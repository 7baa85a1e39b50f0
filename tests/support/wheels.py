"""Pinned real wheels from PyPI, downloaded once, sha256-checked, cached.

Key naming: "<project>-<version>-<abi>-<platform-short>"
    project         normalized PyPI name (pydantic-core, rpds-py, charset-normalizer)
    abi             the wheel's ABI tag: cp314t, cp314, cp313t, cp315t; abi3 builds keep their
                    python tag, as the minimum version matters: cp36-abi3, cp315-abi3.abi3t
    platform-short  manylinux-x86_64, manylinux-aarch64, macosx11-arm64 (the number is the
                    minimum macOS major), macosx10-universal2, win-amd64, win-arm64, win32
e.g. "lxml-6.1.3-cp314t-manylinux-x86_64", "markupsafe-3.0.4-cp314t-win-arm64".

Files land in ~/.cache/ft-audit-tests/wheels/<filename> (FT_AUDIT_TEST_CACHE overrides the
base). fetch_wheel verifies the sha256 on every first use in a process, so a corrupted or
truncated cache file is detected and downloaded again. Downloads go to a temp file in the
same directory under an fcntl lock and are renamed into place once verified.
Everything was picked from https://pypi.org/pypi/NAME/json (releases[version]).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from tests.support.unavailable import SupportUnavailable, skip_or_fail

FILES_HOST = "https://files.pythonhosted.org/packages/"
PYPI_JSON = "https://pypi.org/pypi/{project}/json"
TIMEOUT = 60


@dataclass(frozen=True)
class PinnedWheel:
    key: str
    project: str
    version: str
    filename: str
    sha256: str
    size: int
    blob: str  # PyPI storage path: FILES_HOST + blob + "/" + filename
    note: str = ""  # why this file is pinned (what it exemplifies)

    @property
    def url(self) -> str:
        return f"{FILES_HOST}{self.blob}/{self.filename}"


_PINS = (
    PinnedWheel('lxml-6.1.3-cp314t-manylinux-x86_64',
                'lxml', '6.1.3', 'lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl',
                sha256='28a23fefdb345b2d4d0ff2860571b5ff9a89a28b6a120f720e8fb0324d346626',
                size=5115270, blob='29/e3/e7763d1661b283ddd4fa36f91b9a497db6b8d2aff55028b16c7f642e0755',
                note='Cython 3, cp314t ELF'),
    PinnedWheel('lxml-6.1.3-cp314t-macosx10-universal2',
                'lxml', '6.1.3', 'lxml-6.1.3-cp314-cp314t-macosx_10_15_universal2.whl',
                sha256='5a143e6207579de8baeded4eaac9134413200359f1969d636f0bfb98ee8c3c8f',
                size=8860296, blob='72/38/84684784738d9451db2b330de2483f496690c3a5c642071df24135739b37',
                note='Cython 3, fat Mach-O (x86_64 + arm64)'),
    PinnedWheel('lxml-6.1.3-cp314t-win-amd64',
                'lxml', '6.1.3', 'lxml-6.1.3-cp314-cp314t-win_amd64.whl',
                sha256='c9389b3784b56c58d933b5e0aecdf28f901b073ff385358d8a7d40907f6e14b2',
                size=4400979, blob='82/a6/8a3eb793f7900ef01c7f99e6f5fcbcfbdff35251cfaef66b32a4c16352d6',
                note='Cython 3, PE'),
    PinnedWheel('lxml-6.1.3-cp314-manylinux-x86_64',
                'lxml', '6.1.3', 'lxml-6.1.3-cp314-cp314-manylinux2014_x86_64.manylinux_2_17_x86_64.whl',
                sha256='c6c0c13128a32eb04a51357e56a094e13aa8e6d3d1884de2e9ae923f6915e1a8',
                size=5099355, blob='66/bc/6230cf80e4331c33383b0b6b73dc31a393dd76edd4cb73d761de5123034d',
                note='GIL twin of the cp314t ELF'),

    PinnedWheel('psutil-7.2.2-cp314t-manylinux-x86_64',
                'psutil', '7.2.2', 'psutil-7.2.2-cp314-cp314t-manylinux2010_x86_64.manylinux_2_12_x86_64.manylinux_2_28_x86_64.whl',
                sha256='1fa4ecf83bcdf6e6c8f4449aff98eefb5d0604bf88cb883d7da3d8d2d909546a',
                size=182383, blob='d5/2e/e6782744700d6759ebce3043dcfa661fb61e2fb752b91cdeae9af12c2178',
                note='hand-written C'),
    PinnedWheel('psutil-7.2.2-cp314t-macosx11-arm64',
                'psutil', '7.2.2', 'psutil-7.2.2-cp314-cp314t-macosx_11_0_arm64.whl',
                sha256='7b6d09433a10592ce39b13d7be5a54fbac1d1228ed29abc880fb23df7cb694c9',
                size=131087, blob='7b/64/665248b557a236d3fa9efc378d60d95ef56dd0a490c2cd37dafc7660d4a9',
                note=''),
    PinnedWheel('psutil-7.2.2-cp314t-win-amd64',
                'psutil', '7.2.2', 'psutil-7.2.2-cp314-cp314t-win_amd64.whl',
                sha256='c7663d4e37f13e884d13994247449e9f8f574bc4655d509c3b95e9ec9e2b9dc1',
                size=141228, blob='dd/2c/ff9bfb544f283ba5f83ba725a3c5fec6d6b10b8f27ac1dc641c473dc390d',
                note=''),
    PinnedWheel('psutil-7.2.2-cp36-abi3-manylinux-x86_64',
                'psutil', '7.2.2', 'psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.manylinux_2_28_x86_64.whl',
                sha256='076a2d2f923fd4821644f5ba89f059523da90dc9014e85f8e45a5774ca5bc6f9',
                size=155560, blob='b5/70/5d8df3b09e25bce090399cf48e452d25c935ab72dad19406c77f4e828045',
                note='abi3 (GIL only) build of the same code'),

    PinnedWheel('markupsafe-3.0.3-cp313t-manylinux-x86_64',
                'markupsafe', '3.0.3', 'markupsafe-3.0.3-cp313-cp313t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
                sha256='8709b08f4a89aa7586de0aadc8da56180242ee0ada3999749b183aa23df95025',
                size=23569, blob='96/ec/2102e881fe9d25fc16cb4b25d5f5cde50970967ffa5dddafdb771237062d',
                note='3.13t def header (ob_flags 0)'),
    PinnedWheel('markupsafe-3.0.4-cp314t-manylinux-x86_64',
                'markupsafe', '3.0.4', 'markupsafe-3.0.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
                sha256='b4a635a0487774f841cb1fb62e907e7195cc95bc761e053184b8acc3ceb20733',
                size=23623, blob='30/77/680998b54efdea06fc114565cd739b6d059f826a0279219b218dfa750d29',
                note='hand-written C, Py_mod_gil'),
    PinnedWheel('markupsafe-3.0.4-cp315t-manylinux-x86_64',
                'markupsafe', '3.0.4', 'markupsafe-3.0.4-cp315-cp315t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
                sha256='26e9867520db70d37f7fb421a7f0d8adb40171011fb84ce869afa1a83370dfa8',
                size=23634, blob='d6/a8/26b606445387d0ceb1eb1f21840094b84e4e3c3c3983d80d10b89823b490',
                note='3.15 slot IDs'),
    PinnedWheel('markupsafe-3.0.4-cp314-manylinux-x86_64',
                'markupsafe', '3.0.4', 'markupsafe-3.0.4-cp314-cp314-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
                sha256='a8e9f292fcda89b324f2f5c91d13f1424a153e40fc2756f38ee23b15835ff300',
                size=23049, blob='8f/db/d7282caf7ab03af44d5d6fdbaa019b35c7d7f1c90588b839c07cba640d6a',
                note='GIL twin'),
    PinnedWheel('markupsafe-3.0.4-cp315-manylinux-x86_64',
                'markupsafe', '3.0.4', 'markupsafe-3.0.4-cp315-cp315-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
                sha256='925f929d6b59a8b3f8b8c6ac363cd0af7eecc81efb3071770b3c6717c450a369',
                size=23111, blob='82/96/ef49135ce260db4ca4a12b119ed468449cd248db6b1468e2112b546d7a2e',
                note='GIL 3.15'),
    PinnedWheel('markupsafe-3.0.4-cp314t-macosx11-arm64',
                'markupsafe', '3.0.4', 'markupsafe-3.0.4-cp314-cp314t-macosx_11_0_arm64.whl',
                sha256='fa95848c929b6a75f6848d3c9793e59db365ee436776e57db835cdbfa79ba977',
                size=12096, blob='5f/53/b047207eeb7752e960aca3eb1df5fb7eefa7dd4c62ac49bb156456c8a702',
                note='Mach-O with LC_DYLD_INFO_ONLY'),
    PinnedWheel('markupsafe-3.0.4-cp314t-win-amd64',
                'markupsafe', '3.0.4', 'markupsafe-3.0.4-cp314-cp314t-win_amd64.whl',
                sha256='a18f38cafc329bac5e3c2b96c765b4c96d3d103421ed22ab7988c1e3fce27464',
                size=14526, blob='0b/a3/768b560fcc4156685cb563d922b217810cfa7bc135773367f62f1f9d2078',
                note='PE, imports python314t.dll'),
    PinnedWheel('markupsafe-3.0.4-cp314t-win-arm64',
                'markupsafe', '3.0.4', 'markupsafe-3.0.4-cp314-cp314t-win_arm64.whl',
                sha256='eba154571c16e032112afac0dc2dfe9e63c2ceb7aedd07bb7eecf2ce26d4dd4c',
                size=14421, blob='93/63/da554b4c97a6b0ea3229ca7fe8cbfb620be81613d517f482e85958550537',
                note='PE ARM64'),
    PinnedWheel('markupsafe-3.0.4-cp314t-win32',
                'markupsafe', '3.0.4', 'markupsafe-3.0.4-cp314-cp314t-win32.whl',
                sha256='12a606a492de952afcb43b59a14aaaaad120e708d3663dd0fdf2d738d427a691',
                size=14301, blob='09/15/98075cceac3b5ba0dbb8e4762a847be967d2befc349a2cf2d0ac77f62c9d',
                note='PE i386'),
    PinnedWheel('markupsafe-3.0.4-cp314t-manylinux-aarch64',
                'markupsafe', '3.0.4', 'markupsafe-3.0.4-cp314-cp314t-manylinux2014_aarch64.manylinux_2_17_aarch64.manylinux_2_28_aarch64.whl',
                sha256='e916035e3e9930cbdfdd10abf48861340221857f45509565898e012263f7b289',
                size=25699, blob='ee/51/4326c88a13c7b755657d44b4bb986f8c3d9843ecba7e22d98661d87f9a57',
                note='ELF aarch64'),

    PinnedWheel('pydantic-core-2.50.5-cp314t-manylinux-x86_64',
                'pydantic-core', '2.50.5', 'pydantic_core-2.50.5-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl',
                sha256='1d53befcfd415bd9212e685372c825e62f29b83820db78512c9d3659f13d29e9',
                size=2264144, blob='48/64/6391407d76fdd16b43c0e377998f38142b433e2f28325764bcea37e8b1e5',
                note='PyO3'),
    PinnedWheel('pydantic-core-2.50.5-cp314t-macosx11-arm64',
                'pydantic-core', '2.50.5', 'pydantic_core-2.50.5-cp314-cp314t-macosx_11_0_arm64.whl',
                sha256='0c9f0002e4ec37db931e4ee8b7dafab2c7288ef66354e74fe16484e60eac6616',
                size=2091300, blob='46/4f/d958789f577f91af3c9639e6c127cd729be7117d6318fcfa4b773e3bb220',
                note='PyO3 Mach-O'),
    PinnedWheel('pydantic-core-2.50.5-cp314t-win-amd64',
                'pydantic-core', '2.50.5', 'pydantic_core-2.50.5-cp314-cp314t-win_amd64.whl',
                sha256='159f6bc1b616e0ca0938eb568d87ca03c633d6f06306ac47b9c3e5dd8c14d39a',
                size=2246337, blob='8b/6c/41c3e9f11befcb6fe576e95703d2d8d9dde3f3fa0de5e4c432d60644aeed',
                note='PyO3 PE'),

    PinnedWheel('contourpy-1.4.0-cp314t-manylinux-x86_64',
                'contourpy', '1.4.0', 'contourpy-1.4.0-cp314-cp314t-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl',
                sha256='a1c8a74744fa746eeaa12f0f9ed7f8b4add9d8f1b14d95e3b5e133675eac888f',
                size=377060, blob='c5/a8/6e5eaff53507dfd2dfc428240eecda32453067277d4b3e7ca71210b2d611',
                note='pybind11 3: slots in .bss'),
    PinnedWheel('contourpy-1.4.0-cp314t-macosx11-arm64',
                'contourpy', '1.4.0', 'contourpy-1.4.0-cp314-cp314t-macosx_11_0_arm64.whl',
                sha256='96019f059bcb3774acc0104be3360a57b36d33eaaa2e1d7f77c800ca8e07618b',
                size=302812, blob='ad/59/ce411ab2be0f805038626d8f4ca9ce563487ff51ff6c363e7512271564ed',
                note=''),
    PinnedWheel('contourpy-1.4.0-cp314t-win-amd64',
                'contourpy', '1.4.0', 'contourpy-1.4.0-cp314-cp314t-win_amd64.whl',
                sha256='ef9440f6f8506246269a82734f5ff9e2e4c5e775b3996fc883cc491c5257eca6',
                size=262907, blob='e6/ac/b3e5324138c3e3741f526663f4f265f4f69dfdf26415a39428940864a5f6',
                note=''),

    PinnedWheel('numpy-2.5.5-cp314t-manylinux-x86_64',
                'numpy', '2.5.5', 'numpy-2.5.5-cp314-cp314t-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl',
                sha256='479e43c183049ec1a820eeb36549e493924f56b3e893a1d5865d0fff12abad47',
                size=15751077, blob='93/43/85cfae380e4e2fe1d246c39a12c88c7a224e751604b6fa13236df3b86600',
                note='many extension modules'),
    PinnedWheel('numpy-2.5.5-cp314-manylinux-x86_64',
                'numpy', '2.5.5', 'numpy-2.5.5-cp314-cp314-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl',
                sha256='c48960d420e90cf305cb1fde0d4e6082cc90512cda87a9acf0b6e04e91cf4abe',
                size=15718051, blob='a4/1f/fcdce1061fba2bfb2e9bfda01fbd8132d5f7522a4f7c8e2b2f629d54ee38',
                note='GIL twin'),
    PinnedWheel('numpy-2.5.5-cp314t-macosx14-arm64',
                'numpy', '2.5.5', 'numpy-2.5.5-cp314-cp314t-macosx_14_0_arm64.whl',
                sha256='31e5be6cd4b896004cb9e416741612ade530fc9a04bceca5219cf66a675113b4',
                size=5620763, blob='38/d2/cc6d1f0f4c848f18e30d0f464a70598369336591920952f6aee440da4a2f',
                note='macOS 14 target'),
    PinnedWheel('numpy-2.5.5-cp314t-win-amd64',
                'numpy', '2.5.5', 'numpy-2.5.5-cp314-cp314t-win_amd64.whl',
                sha256='84dfb1611993a3525b250c955b1e2ebab6ce0ed36e4ab4dd5746432dd362fb5d',
                size=12909875, blob='58/29/c57eca063b680b23c0ca8d07789b3011a9e962fd4994a656b11f7a21226e',
                note=''),

    PinnedWheel('mypy-2.4.1-cp314-manylinux-x86_64',
                'mypy', '2.4.1', 'mypy-2.4.1-cp314-cp314-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
                sha256='beb254fec368c4e7f7f82a5f310c6470b893ec88a90b66426da971c6826b0453',
                size=15442824, blob='16/10/4192a5cea09ebbc41c534f57bd0d8f0fb42a8e810632cda6e37f072c59fd',
                note='mypyc, GIL'),
    PinnedWheel('mypy-2.4.1-cp314t-manylinux-x86_64',
                'mypy', '2.4.1', 'mypy-2.4.1-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
                sha256='63c6ff0e7ea546943001a91639c9f0c64b60d239268fa5d29e4a6c87f82c2373',
                size=17243006, blob='a1/54/a20f881801b88900923f2be1541a4b438ad0f0883e03836641fdc3d7adf4',
                note='mypyc, free-threaded'),

    PinnedWheel('msgpack-1.2.4-cp314-manylinux-x86_64',
                'msgpack', '1.2.4', 'msgpack-1.2.4-cp314-cp314-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
                sha256='5d65b791ce4283e02b6267742ad540899155e1b32887b9cbdda47f38f5a076b5',
                size=465078, blob='39/8f/bf975b5d2111e4954a0f8567fc6b60bab22c8766dd4fa509af1334c91a4f',
                note='Cython, GIL'),
    PinnedWheel('msgpack-1.2.4-cp314t-manylinux-x86_64',
                'msgpack', '1.2.4', 'msgpack-1.2.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
                sha256='55e6106d2d085af42b2de72efeb38ed255241a24b32295ca889707c1d679c442',
                size=468726, blob='a9/e2/383ece1c1b27c1ed322055fce8ab8972bc6d529ede881592065ce0c461bf',
                note='Cython, free-threaded'),

    PinnedWheel('gemmi-0.7.5-cp314t-manylinux-x86_64',
                'gemmi', '0.7.5', 'gemmi-0.7.5-cp314-cp314t-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl',
                sha256='667fe4c20ef52a36dad397367c282293edf9deedfee58c03da2f89bf89099589',
                size=3005330, blob='81/7f/c0efd1cd08d48c2a339922739b69b2244b7099d7bd6e48eba8477d5c7758',
                note='nanobind, no Py_mod_gil'),

    PinnedWheel('rpds-py-2026.9.1-cp314t-manylinux-x86_64',
                'rpds-py', '2026.9.1', 'rpds_py-2026.9.1-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
                sha256='0da298fb372dc192610a4b9ecbc68a0cd8b675bbbd1fc519d01b41cfd658333e',
                size=374569, blob='ed/71/0fa7bb77b57af0d710273964180d11b503f62b8a5c358eb2d8c3f62feff6',
                note='PyO3 0.29, ob_flags 0 on 3.14t'),
    PinnedWheel('rpds-py-2026.9.1-cp315t-manylinux-x86_64',
                'rpds-py', '2026.9.1', 'rpds_py-2026.9.1-cp315-cp315t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
                sha256='cdeaa99ce822dca76cfb1b993e9120c5ea212f2eb66d48950ad63c349668a018',
                size=375132, blob='63/f5/c100ff77e1e6366e947c75969c258fdfc4b7bc5bbfe7351e62ffbf2a1228',
                note='PyO3 0.29, PyModExport on 3.15t'),

    PinnedWheel('cryptography-50.0.2-cp315-abi3.abi3t-manylinux-x86_64',
                'cryptography', '50.0.2', 'cryptography-50.0.2-cp315-abi3.abi3t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl',
                sha256='f2f9bd7f90c64fe89253f0a2c05e3c4856072660429ce8831b4235bf29403a67',
                size=4966465, blob='aa/a4/2c8d734e43d97f0842ee9f1b7b4bfb3d0cf5e19edebf43c2afe6675c2320',
                note='abi3t (_rust.abi3t.so)'),

    PinnedWheel('charset-normalizer-3.5.3-cp314t-manylinux-x86_64',
                'charset-normalizer', '3.5.3', 'charset_normalizer-3.5.3-cp314-cp314t-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl',
                sha256='7a7e5bb8974842ad747d4a2b9fb928f84c3cdbe2c2fd7e405197fc1a1badaeaa',
                size=260695, blob='67/49/277767bc060dfcb0788103acd67ec3831cbcc671f5a7b12b4935e733e09a',
                note='mypyc'),
    PinnedWheel('charset-normalizer-3.5.3-cp314t-macosx10-universal2',
                'charset-normalizer', '3.5.3', 'charset_normalizer-3.5.3-cp314-cp314t-macosx_10_15_universal2.whl',
                sha256='6c80b4e83e2fbddd25fe27804cdfc45ef71bb387522caa575af42118d72dc970',
                size=413919, blob='a8/52/01e5da4f7d4d10195f745c37b0daacd83a0fe112e9b6d959663a775ce489',
                note='small universal2'),

    PinnedWheel('mlx-0.32.4-cp314t-macosx14-arm64',
                'mlx', '0.32.4', 'mlx-0.32.4-cp314-cp314t-macosx_14_0_arm64.whl',
                sha256='f6cbda9cb8c33c9f8673a2b69fb19bdab75b5032d4e47a42a0e7b36db1c3ebcc',
                size=692106, blob='e3/7c/c90d57df7775421fe43f7a235f6cee85a67c4aecc7325051b23fff58335b',
                note='nanobind Mach-O with LC_DYLD_CHAINED_FIXUPS'),

    PinnedWheel('greenlet-3.5.6-cp314t-manylinux-x86_64',
                'greenlet', '3.5.6', 'greenlet-3.5.6-cp314-cp314t-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl',
                sha256='460e70b033aba8ed47e2ac9b5d0d2157b05a34fbfa30a241400aef4118902cdc',
                size=676608, blob='58/c5/2b6c721ba8b8963da42d5a0f57f25b8aaeb1fe9bdd156875e57f3be648a2',
                note='C++ single-phase module calling SetGIL in PyInit (cross-format parity)'),
    PinnedWheel('greenlet-3.5.6-cp314t-macosx11-universal2',
                'greenlet', '3.5.6', 'greenlet-3.5.6-cp314-cp314t-macosx_11_0_universal2.whl',
                sha256='97c5a53e8c1754df58e73f047a99e287d4da1bdfe64b0072fb25c87000897951',
                size=305352, blob='14/7e/7a205688a5b3074933b18a906608d46d106e9a79d776bdab5a4abf4b4feb',
                note='x86_64 slice: the code window of PyInit runs into __stubs'),
    PinnedWheel('greenlet-3.5.6-cp314t-win-amd64',
                'greenlet', '3.5.6', 'greenlet-3.5.6-cp314-cp314t-win_amd64.whl',
                sha256='886bcf1870af74c32bc310fd00a6b803445e17e51b7d5a107c7b35c0f362cc16',
                size=331574, blob='08/a5/1f48fe647473a2dcccfd1839b2ff2c78eb57009be776b4da071e901c9bff',
                note='PyInit__greenlet is a lone jmp (tail call) to the C++ init that calls SetGIL'),
    PinnedWheel('coverage-7.17.4-cp313-manylinux-x86_64',
                'coverage', '7.17.4', 'coverage-7.17.4-cp313-cp313-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl',
                sha256='434e8a7a91fa2bb2819ac4da53697d4805bb1b25d00a9046403651e59c2cc857',
                size=263589, blob='77/34/9f09c0bc9c5a522411b23197072e2aada8a91025018a22111b3ead3c5091',
                note='C module whose only __cxa_* import is crtstuff\'s weak __cxa_finalize'),
    PinnedWheel('orjson-3.13.0-cp313-manylinux-x86_64',
                'orjson', '3.13.0', 'orjson-3.13.0-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
                sha256='cbed5f4c4b88d94bcc36115f4c3bb3aa25da1563a5c3328aa3acebce2b083040',
                size=130370, blob='45/46/f8d83189ff5b7b2ff225a58c5908618cc4e86afe09e65d17a30ac68c9da4',
                note='pyo3-ffi without the pyo3 macros: PyModuleDef and slots built on the heap in PyInit'),
    PinnedWheel('zstandard-0.25.0-cp313-manylinux-x86_64',
                'zstandard', '0.25.0', 'zstandard-0.25.0-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.whl',
                sha256='8e735494da3db08694d26480f1493ad2cf86e99bdd53e8e9771b2752a5c0246a',
                size=5547173, blob='63/4b/e3678b4e776db00f9f7b2fe58e547e8928ef32727d7a1ff01dea010f3f13',
                note='cffi out-of-line API-mode module (zstandard._cffi)'),
)

PINNED: dict[str, PinnedWheel] = {pin.key: pin for pin in _PINS}
PINNED_KEYS_BY_PROJECT: dict[str, tuple[str, ...]] = {}
for _pin in _PINS:
    PINNED_KEYS_BY_PROJECT[_pin.project] = (*PINNED_KEYS_BY_PROJECT.get(_pin.project, ()), _pin.key)
del _pin

# Exemplars other tests ask for by role rather than by project.
UNIVERSAL2_KEY = "charset-normalizer-3.5.3-cp314t-macosx10-universal2"
WIN32_KEY = "markupsafe-3.0.4-cp314t-win32"
WIN_ARM64_KEY = "markupsafe-3.0.4-cp314t-win-arm64"
CHAINED_FIXUPS_KEY = "mlx-0.32.4-cp314t-macosx14-arm64"
DYLD_INFO_KEY = "markupsafe-3.0.4-cp314t-macosx11-arm64"


def pinned(key: str) -> PinnedWheel:
    try:
        return PINNED[key]
    except KeyError:
        raise KeyError(f"no pinned wheel {key!r}; see tests/support/wheels.py PINNED") from None


def cache_dir() -> Path:
    base = os.environ.get("FT_AUDIT_TEST_CACHE")
    root = Path(base).expanduser() if base else Path("~/.cache/ft-audit-tests").expanduser()
    return root / "wheels"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# (path, size, mtime_ns) already verified in this process: hashing 15 MB once is enough.
_verified: set[tuple[str, int, int]] = set()


def _is_valid(path: Path, pin: PinnedWheel) -> bool:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    marker = (str(path), stat.st_size, stat.st_mtime_ns)
    if marker in _verified:
        return True
    if stat.st_size != pin.size or sha256_of(path) != pin.sha256:
        return False
    _verified.add(marker)
    return True


@contextlib.contextmanager
def _locked(directory: Path, name: str) -> Iterator[None]:
    with open(directory / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lookup_url(pin: PinnedWheel) -> str:
    """The file's URL as the project JSON gives it now (may be relative to the JSON URL)."""
    import requests

    json_url = PYPI_JSON.format(project=pin.project)
    response = requests.get(json_url, timeout=TIMEOUT)
    response.raise_for_status()
    for entry in response.json().get("releases", {}).get(pin.version, []):
        if entry.get("filename") == pin.filename:
            return urljoin(json_url, entry["url"])
    raise SupportUnavailable(f"{pin.filename} is no longer listed in {json_url}")


def _download(url: str, target: Path, pin: PinnedWheel) -> None:
    """Stream url into a temp file next to target, check size + sha256, rename into place."""
    import requests

    digest = hashlib.sha256()
    # Entered with the response below; kept (delete=False) to be renamed into place.
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False)  # noqa: SIM115
    try:
        with handle, requests.get(url, stream=True, timeout=TIMEOUT) as response:
            response.raise_for_status()
            for chunk in response.iter_content(1 << 20):
                digest.update(chunk)
                handle.write(chunk)
        got = digest.hexdigest()
        if got != pin.sha256:
            raise SupportUnavailable(f"{pin.filename}: sha256 {got} from {url}, expected {pin.sha256}")
        os.chmod(handle.name, 0o644)  # NamedTemporaryFile makes 0600; the cache is shared
        os.replace(handle.name, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)


def fetch_wheel(key: str) -> Path:
    """The cached, sha256-verified wheel file for key; downloads it on first use.

    Raises KeyError for an unknown key and SupportUnavailable when it cannot be had
    (offline, PyPI error, hash mismatch)."""
    pin = pinned(key)
    directory = cache_dir()
    target = directory / pin.filename
    if _is_valid(target, pin):
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory, pin.filename):
        if _is_valid(target, pin):  # another process fetched it while we waited
            return target
        target.unlink(missing_ok=True)  # corrupt or truncated: fetch again
        import requests

        errors: list[str] = []
        for url_source in (lambda: pin.url, lambda: _lookup_url(pin)):
            try:
                _download(url_source(), target, pin)
                break
            except (requests.RequestException, OSError, SupportUnavailable) as exc:
                errors.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        else:
            raise SupportUnavailable(f"cannot fetch {pin.filename}: {'; '.join(errors)}")
    if not _is_valid(target, pin):
        raise SupportUnavailable(f"{target} does not match its pinned sha256 after download")
    return target


def require_wheel(key: str) -> Path:
    """pytest helper: fetch_wheel(key), or skip (offline) / fail (CI=true) with the reason."""
    try:
        return fetch_wheel(key)
    except SupportUnavailable as exc:
        skip_or_fail(f"pinned wheel {key}: {exc.reason}")
