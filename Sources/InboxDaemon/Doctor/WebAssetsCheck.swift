import StatusAPI

/// The watch page's player files (Video.js under `web_assets_dir`): without them `/videos/{id}` still answers, but
/// can only say that it cannot play.
enum WebAssetsCheck {
    static func finding(_ directory: String) -> Finding {
        let assets = WebAssets.load(directory: directory)
        let what = "watch page player files in \(assets.directory)"
        guard assets.missingPlayerFiles.isEmpty else {
            return .fail(what, "missing \(assets.missingPlayerFiles.joined(separator: ", "))",
                         fix: "run scripts/bootstrap in the source tree (it unpacks PyPI js-videojs 7.5.5 into web/vendor), "
                            + "reinstall the inboxd package, or point web_assets_dir at a directory holding videojs/")
        }
        return .ok("\(what) (Video.js \(WebAssets.playerScript), \(WebAssets.playerStylesheet))")
    }
}
