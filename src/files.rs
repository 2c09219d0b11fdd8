//! Replacing a small file whole: written beside it, fsynced, renamed over
//! it, so a reader sees the old file or the new one, never a part.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through `<path>.tmp` (creating the directory);
/// the error names the file.
pub fn replace_whole(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}
