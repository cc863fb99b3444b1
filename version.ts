/** skein's version, reported by `skein version` and in CNI VERSION answers. */
export const VERSION = "0.1.0";
