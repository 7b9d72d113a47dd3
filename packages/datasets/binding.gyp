# The JPEG decoder (native/jpeg-decode.c): libjpeg-turbo, the library Pillow decodes with, called directly
# through N-API (plain C, no node-addon-api). Links the system libjpeg (Debian: libjpeg62-turbo-dev,
# installed by scripts/setup.sh).
{
    "targets": [
        {
            "target_name": "select_jpeg_decode",
            "sources": ["native/jpeg-decode.c"],
            "libraries": ["-ljpeg"],
            "cflags": ["-O2", "-std=c11"],
            "xcode_settings": {"MACOSX_DEPLOYMENT_TARGET": "11.0"},
        }
    ],
}
