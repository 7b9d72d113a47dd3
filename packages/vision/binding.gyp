# The preprocessing addon (native/preprocess.c): libjpeg-turbo decode + Pillow's resample + normalise, called
# directly through N-API (plain C, no node-addon-api). Links the system libjpeg (Debian: libjpeg62-turbo-dev,
# installed by scripts/setup.sh). -ffp-contract=off: the resampling coefficients must round as Pillow's (and
# src/resample.ts's) do, without fused multiply-adds.
{
    "targets": [
        {
            "target_name": "select_vision_preprocess",
            "sources": ["native/preprocess.c"],
            "libraries": ["-ljpeg"],
            "cflags": ["-O3", "-std=gnu11", "-ffp-contract=off", "-fno-fast-math"],
            "xcode_settings": {"MACOSX_DEPLOYMENT_TARGET": "11.0", "OTHER_CFLAGS": ["-ffp-contract=off"]},
        }
    ],
}
