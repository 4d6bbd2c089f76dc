import Foundation
import Training

/// `ImageFolder`'s scan on hostile trees: the input is a `FolderScript`, built in a scratch
/// folder (symbolic links included: to parents, to themselves, in loops, dangling), then
/// scanned as `finetune --data` scans it. The scan may refuse the tree; when it accepts it,
/// every image must be labelled with the class folder it was found in, no image may be
/// reached through the same real folder twice (a symlink loop followed), and the count
/// stays bounded.
enum ImageFolderHarness {
    static let root = FuzzScratch.folder("imagefolder") + "/tree"
    static let maxSamples = 10_000

    static func run(_ bytes: [UInt8]) {
        let script = FolderScript(bytes)
        try? FileManager.default.removeItem(atPath: root)
        guard (try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)) != nil,
              let realRoot = realPath(root) else {
            fatalError("fuzz imagefolder: cannot make the scratch folder \(root)")
        }
        for op in script.ops { build(op, realRoot: realRoot) }

        let folder: ImageFolder
        do {
            folder = try ImageFolder(root: root, valSplit: Double(script.valPercent) / 100, seed: script.seed)
        } catch {
            if String(describing: error).isEmpty { violated(.imagefolder, "an error with an empty message: \(error)") }
            return
        }
        check(folder)
    }

    /// Carries out one operation; one that cannot be done (a missing parent, a name taken)
    /// is skipped. Links never point out of the tree: a link's `..` steps are at most the
    /// depth of the real folder it is made in, and its names lead down (through links that
    /// obey the same rule), so nothing outside the scratch folder is ever scanned.
    static func build(_ op: FolderScript.Op, realRoot: String) {
        let fm = FileManager.default
        switch op {
        case .folder(let p):
            try? fm.createDirectory(atPath: joined(p), withIntermediateDirectories: true)
            if let made = realPath(joined(p)), !inside(made, realRoot) {
                fatalError("fuzz imagefolder: the harness made \(made), outside its scratch folder")
            }
        case .file(let p):
            guard let parent = realPath(joined(p.dropLast())), inside(parent, realRoot) else { return }
            _ = fm.createFile(atPath: joined(p), contents: nil)
        case let .link(p, ups, down):
            guard let parent = realPath(joined(p.dropLast())), inside(parent, realRoot) else { return }
            let depth = parent.dropFirst(realRoot.count).split(separator: "/").count
            guard ups <= depth else { return }
            let target = (Array(repeating: "..", count: ups) + down).joined(separator: "/")
            try? fm.createSymbolicLink(atPath: joined(p), withDestinationPath: target.isEmpty ? "." : target)
        }
    }

    static func check(_ folder: ImageFolder) {
        let classes = folder.classes
        if classes.isEmpty { violated(.imagefolder, "no classes but no error") }
        if Set(classes).count != classes.count { violated(.imagefolder, "duplicate classes \(classes)") }
        if classes.contains(where: { $0.hasPrefix(".") }) { violated(.imagefolder, "a hidden folder as a class: \(classes)") }
        let total = folder.train.count + folder.val.count
        if total > maxSamples { violated(.imagefolder, "\(total) images from a tree of at most \(FolderScript.maxOps) entries") }

        let trainRoot = isDirectory(root + "/train") ? root + "/train" : root
        let valRoot = folder.valSource.hasPrefix(root + "/") ? folder.valSource : trainRoot
        var realPaths: [String: String?] = [:]
        for (samples, classRoot) in [(folder.train, trainRoot), (folder.val, valRoot)] {
            if Set(samples.map(\.path)).count != samples.count { violated(.imagefolder, "an image listed twice") }
            for s in samples {
                guard classes.indices.contains(s.label) else { violated(.imagefolder, "\(s.path): label \(s.label) of \(classes.count)") }
                let own = classRoot + "/" + classes[s.label] + "/"
                if !s.path.hasPrefix(own) { violated(.imagefolder, "\(s.path) labelled \(classes[s.label]), found outside \(own)") }
                checkNoLoop(s.path, cache: &realPaths)
            }
        }
        let trainPaths = Set(folder.train.map(\.path))
        if let both = folder.val.first(where: { trainPaths.contains($0.path) }) {
            violated(.imagefolder, "\(both.path) is in train and in val")
        }
    }

    /// The folders on the way from the root to the image are distinct real folders.
    static func checkNoLoop(_ path: String, cache: inout [String: String?]) {
        let parts = path.dropFirst(root.count).split(separator: "/").dropLast()
        var seen: Set<String> = [], prefix = root
        for part in parts {
            prefix += "/" + part
            let real: String?
            if let cached = cache[prefix] { real = cached } else { real = realPath(prefix); cache[prefix] = real }
            guard let real else { continue }
            if !seen.insert(real).inserted {
                violated(.imagefolder, "\(path) goes through the folder \(real) twice: a symlink loop was followed")
            }
        }
    }

    static func joined<C: Collection>(_ parts: C) -> String where C.Element == String {
        ([root] + parts).joined(separator: "/")
    }

    static func inside(_ path: String, _ realRoot: String) -> Bool {
        path == realRoot || path.hasPrefix(realRoot + "/")
    }

    static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
