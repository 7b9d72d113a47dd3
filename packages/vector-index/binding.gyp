# The native core (native/vector_index.cc) on usearch's header-only C++ library, taken from the
# installed `usearch` package so that the on-disk graph format is that release's. NumKong (usearch's
# SIMD backend) is left out on purpose: its f32 kernels accumulate in f64 and were 4x slower here than
# the kernels in vector_index.cc; f16/i8 graphs use usearch's auto-vectorised kernels.
{
    "variables": {
        "usearch_root": "<!(node -p \"const p = require('path'); let d = p.dirname(require.resolve('usearch')); while (!require('fs').existsSync(p.join(d, 'include', 'usearch'))) d = p.dirname(d); p.relative(process.cwd(), d)\")",
    },
    "targets": [
        {
            "target_name": "select_vector_index",
            "sources": ["native/vector_index.cc"],
            "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
            "include_dirs": ["<(usearch_root)/include"],
            "defines": ["USEARCH_USE_NUMKONG=0", "USEARCH_USE_OPENMP=0"],
            "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-Wno-unknown-pragmas", "-Wno-maybe-uninitialized"],
            "xcode_settings": {
                "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
                "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3"],
                "MACOSX_DEPLOYMENT_TARGET": "11.0",
            },
        }
    ],
}
