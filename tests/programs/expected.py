"""Expected behaviour of the programs in this directory, one list of cases per program.

Inputs (args, env, setup, dirs, stdin, host_after) are written by hand; the outcomes
(stdout, stderr, exit_code) were recorded under wasmtime, the reference:

    python -m tests.programs.run_with_wasmtime --record   # after changing inputs or programs
    python -m tests.programs.run_with_wasmtime --check

The case format is described in harness.py.
"""

PROGRAMS = {
    'args_env': [
        {
            'args': ['first', 'with space', 'ünïcödé', '', '--flag=1'],
            'stdout': 'argc=6\narg[1]="first"\narg[2]="with space"\narg[3]="ünïcödé"\narg[4]=""\narg[5]="--flag=1"\nenvc=0\nMISSING is set: false\n',
            'stderr': '',
            'exit_code': 0,
        },
        {
            'args': [],
            'env': {'FOO': 'bar', 'EMPTY': '', 'WITH_EQ': 'a=b=c', 'UNI': 'ß'},
            'stdout': 'argc=1\nenvc=4\nenv EMPTY=""\nenv FOO="bar"\nenv UNI="ß"\nenv WITH_EQ="a=b=c"\nMISSING is set: false\n',
            'stderr': '',
            'exit_code': 0,
        },
    ],
    'stdin_cat': [
        {
            'stdin': 'line one\nline two\nno newline at the end',
            'stdout': 'line one\nline two\nno newline at the end',
            'stderr': '39 bytes, 2 lines\n',
            'exit_code': 0,
        },
        {
            'stdin': '',
            'stdout': '',
            'stderr': '0 bytes, 0 lines\n',
            'exit_code': 0,
        },
        {
            'stdin_repeat': ['0123456789abcdef\n', 8192],
            'stdout_size': 139264,
            'stdout_sha256': 'edf0cefade32fe40fffd7e09847841e272c65900bec61e418c96c13cc5b032fc',
            'stdout_head': '0123456789abcdef\n0123456789abcdef\n0123456789abcdef\n0123456789abcdef\n0123456789abcdef\n0123456789abcdef\n0123456789abcdef\n0123456789abcdef\n0123456789abcdef\n0123456789abcdef\n0123456789abcdef\n0123456789abc',
            'stderr': '139264 bytes, 8192 lines\n',
            'exit_code': 0,
        },
    ],
    'stdio': [
        {
            'stdout_size': 140006,
            'stdout_sha256': 'cca3d58c05306ab570f5e47b73fa9ff5d320faf32a97c468ecd03fe2a720bddd',
            'stdout_head': 'out 1\nout 2, no newline yet... done\n0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123',
            'stderr': 'err 1\nerr 2\n',
            'exit_code': 0,
        },
    ],
    'exit_code': [
        {
            'args': ['0'],
            'stdout': 'exiting with 0\n',
            'stderr': '',
            'exit_code': 0,
        },
        {
            'args': ['3'],
            'stdout': 'exiting with 3\n',
            'stderr': '',
            'exit_code': 3,
        },
        {
            'args': ['125'],
            'stdout': 'exiting with 125\n',
            'stderr': '',
            'exit_code': 125,
        },
        {
            'args': ['126'],
            'stdout': 'exiting with 126\n',
            'stderr': '',
            'exit_code': 1,
        },
        {
            'args': ['255'],
            'stdout': 'exiting with 255\n',
            'stderr': '',
            'exit_code': 1,
        },
    ],
    'panic': [
        {
            'args': ['explicit'],
            'stdout': 'about to panic\n',
            'stderr': "thread 'main' panicked at 'boom: explicit', panic.rs:10:5\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
            'exit_code': 134,
        },
        {
            'args': ['index'],
            'stdout': 'about to panic\n',
            'stderr': "thread 'main' panicked at 'index out of bounds: the len is 0 but the index is 12', panic.rs:8:24\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
            'exit_code': 134,
        },
    ],
    'files': [
        {
            'args': ['/data'],
            'setup': [('dir', 'data'), ('file', 'data/input.txt', 'from the host\n')],
            'dirs': [('data', '/data')],
            'host_after': {'data/input.txt': 'from the host\n', 'data/a/renamed.txt': 'hello\x00\x00\x00', 'data/notes.txt': None, 'data/copy.txt': None},
            'stdout': 'initially: input.txt (14 bytes)\ninput.txt says "from the host\\n"\nafter append: "hello\\nworld\\n"\nat 6: "world"\nend-1 is offset 11\nback 3 is offset 8\nafter overwrite: "hello\\nwoLld\\n"\ntruncated: "hello"\nextended: [104, 101, 108, 108, 111, 0, 0, 0]\nmetadata: len 8 file true dir false has mtime true\nroot is dir: true\ncopied 4 bytes\nafter creating: a/, a/b/, a/b/c/, a/b/c/deep.txt (4 bytes), a/renamed.txt (8 bytes), copy.txt (4 bytes), input.txt (14 bytes)\nopen missing: Some(NotFound)\ncreate_dir existing: Some(AlreadyExists)\nremove non-empty dir: Directory not empty (os error 55)\nremove dir as file: Is a directory (os error 31)\nfinally: a/, a/renamed.txt (8 bytes), input.txt (14 bytes)\n',
            'stderr': '',
            'exit_code': 0,
        },
        {
            'args': ['.'],
            'setup': [('dir', 'data'), ('file', 'data/input.txt', 'dot\n')],
            'dirs': [('data', '.')],
            'stdout': 'initially: input.txt (4 bytes)\ninput.txt says "dot\\n"\nafter append: "hello\\nworld\\n"\nat 6: "world"\nend-1 is offset 11\nback 3 is offset 8\nafter overwrite: "hello\\nwoLld\\n"\ntruncated: "hello"\nextended: [104, 101, 108, 108, 111, 0, 0, 0]\nmetadata: len 8 file true dir false has mtime true\nroot is dir: true\ncopied 4 bytes\nafter creating: a/, a/b/, a/b/c/, a/b/c/deep.txt (4 bytes), a/renamed.txt (8 bytes), copy.txt (4 bytes), input.txt (4 bytes)\nopen missing: Some(NotFound)\ncreate_dir existing: Some(AlreadyExists)\nremove non-empty dir: Directory not empty (os error 55)\nremove dir as file: Is a directory (os error 31)\nfinally: a/, a/renamed.txt (8 bytes), input.txt (4 bytes)\n',
            'stderr': '',
            'exit_code': 0,
        },
    ],
    'escape': [
        {
            'args': ['/data'],
            'setup': [('dir', 'outside'), ('file', 'outside/secret.txt', 'secret'), ('dir', 'data/sub'), ('file', 'data/inside.txt', 'inside'), ('symlink', 'data/lnout', '../outside'), ('symlink', 'data/lnabs', '{tmp}/outside/secret.txt')],
            'dirs': [('data', '/data')],
            'host_after': {'outside/secret.txt': 'secret', 'outside/pwned.txt': None, 'outside/moved': None, 'outside/hl': None, 'outside/mine': None, 'data/inside.txt': 'inside'},
            'stdout': 'read inside: ALLOWED\nopen ../: denied (Operation not permitted (os error 63))\nopen /etc/passwd: denied (failed to find a pre-opened file descriptor through which "/etc/passwd" could be opened)\nopen sub/../../: denied (Operation not permitted (os error 63))\nopen via host symlink: denied (Operation not permitted (os error 63))\nopen absolute symlink: denied (Operation not permitted (os error 63))\nwrite ../: denied (Operation not permitted (os error 63))\nmkdir ../: denied (Operation not permitted (os error 63))\nlist ..: denied (Operation not permitted (os error 63))\nrename out: denied (Operation not permitted (os error 63))\nhard link out: denied (Operation not permitted (os error 63))\ntruncate via symlink: denied (Operation not permitted (os error 63))\nguest symlink to ../outside: errno 0\nopen via guest symlink: denied (Operation not permitted (os error 63))\nwrite via guest symlink: denied (Operation not permitted (os error 63))\nguest symlink to /etc: errno 63\nguest symlink to ..: errno 0\nopen sub/up/inside.txt: ALLOWED\nopen sub/up/../outside: denied (Operation not permitted (os error 63))\nread_link lnout: ../outside\nremove the host symlink itself: ALLOWED\nread inside again: ALLOWED\n',
            'stderr': '',
            'exit_code': 0,
        },
    ],
    'clocks': [
        {
            'stdout': 'realtime after 2020: true\nmonotonic: ok\nsleep 1ms: waited enough: true\nsleep 20ms: waited enough: true\nsleep 100ms: waited enough: true\ntotal under 5s: true\n',
            'stderr': '',
            'exit_code': 0,
        },
    ],
    'random': [
        {
            'stdout': 'map len 10000 sum 49995000 key500 Some(500)\ndistinct hashes from 8 states: true\nsame state is stable: true\n',
            'stderr': '',
            'exit_code': 0,
        },
    ],
    'recursion': [
        {
            'args': ['native', '1000'],
            'stdout': 'native depth 1000 checksum 4403495875275732377\n',
            'stderr': '',
            'exit_code': 0,
        },
        {
            'args': ['native', '5000'],
            'stdout': 'native depth 5000 checksum 12164312022916877177\n',
            'stderr': '',
            'exit_code': 0,
        },
        {
            'args': ['native', '100000000'],
            'stdout': '',
            'stderr': '',
            'exit_code': 134,
        },
        {
            'args': ['shadow', '1000'],
            'stdout': 'shadow depth 1000 checksum 4403495875275732377\n',
            'stderr': '',
            'exit_code': 0,
        },
        {
            'args': ['shadow', '20000'],
            'stdout': '',
            'stderr': '',
            'exit_code': 134,
        },
    ],
    'alloc': [
        {
            'args': ['200'],
            'stdout': 'allocated 200 MiB, page checksum 6399506\n16 more blocks, last byte 15\n',
            'stderr': '',
            'exit_code': 0,
        },
        {
            'args': ['1'],
            'stdout': 'allocated 1 MiB, page checksum 31385\n16 more blocks, last byte 15\n',
            'stderr': '',
            'exit_code': 0,
        },
    ],
}
