import Foundation

/// Finding images in a folder the way users expect: jpg, jpeg and png in any case, hidden
/// files and folders ignored, sorted by name (code point order, as Python sorts).
public enum ImageList {
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    public static func isImageName(_ name: String) -> Bool {
        extensions.contains((name as NSString).pathExtension.lowercased())
    }

    /// Images under `dir` (sorted by path) and the other files found (skipped; callers warn).
    public static func scan(_ dir: String, recursive: Bool) throws -> (images: [String], skipped: [String]) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: dir])
        }
        var images: [String] = [], skipped: [String] = []
        func visit(_ folder: String) throws {
            let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted(by: PythonFormat.codePointLess)
            for name in names where !name.hasPrefix(".") {
                let path = folder.hasSuffix("/") ? folder + name : folder + "/" + name
                var sub: ObjCBool = false
                FileManager.default.fileExists(atPath: path, isDirectory: &sub)
                if sub.boolValue {
                    if recursive { try visit(path) }
                } else if isImageName(name) {
                    images.append(path)
                } else {
                    skipped.append(path)
                }
            }
        }
        try visit(dir)
        return (images.sorted(by: PythonFormat.codePointLess), skipped)
    }
}
