import Foundation
import XCTest
@testable import Checkpoint

/// Every fixture made by real PyTorch reads back as torch sees it: same keys in the same
/// order, dtypes, shapes and bit-identical values (by SHA-256); every bad file fails with
/// the error its manifest names.
final class FixtureTests: XCTestCase {
    func testEveryGoodFixtureMatchesTorch() throws {
        XCTAssertGreaterThan(try checkGoodFixtures(in: "checkpoints"), 10, "too few good fixtures were checked")
    }

    /// float16, bfloat16, int64 and float64 tensors that are views (storage offsets, strides,
    /// expands, transposes), in the zip and legacy forms: each reads as its values made contiguous.
    func testTypedViewsMatchTorch() throws {
        XCTAssertEqual(try checkGoodFixtures(in: "typed_views"), 2)
        // The fixture really has what it is for: views at an offset, strided and expanded, of every dtype.
        let views = try XCTUnwrap(FixtureManifest.load("typed_views")["typed_views.pth"]?["views"] as? [String: [String: Any]])
        for dtype in ["float16", "bfloat16", "int64", "float64"] {
            let mine = views.filter { $0.key.hasPrefix(dtype + ".") }.values
            XCTAssertTrue(mine.contains { ($0["offset"] as? Int ?? 0) > 0 }, dtype)
            XCTAssertTrue(mine.contains { ($0["stride"] as? [Int] ?? []).contains(0) }, dtype)
            XCTAssertTrue(mine.contains { ($0["stride"] as? [Int] ?? []).last.map { $0 > 1 } ?? false }, dtype)
        }
    }

    func testEveryBadFixtureFailsWithItsError() throws {
        let manifest = try FixtureManifest.load()
        var checked = 0
        for (name, entry) in manifest.sorted(by: { $0.key < $1.key }) {
            guard let category = entry["error"] as? String else { continue }
            do {
                _ = try Checkpoint(contentsOf: FixtureManifest.path(name))
                XCTFail("\(name): read without error; expected \(category) (\(entry["detail"] ?? ""))")
            } catch let e as CheckpointError {
                XCTAssertEqual(e.category, category, "\(name): \(e)")
                XCTAssertTrue(e.description.contains(FixtureManifest.path(name)), "\(name): the message names the file: \(e)")
                if let globals = entry["globals"] as? [String], case .unknownGlobals(_, let found) = e {
                    XCTAssertEqual(found.map(\.name).sorted(), globals.sorted(), "\(name): every unknown global is named")
                }
            }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 8, "too few bad fixtures were checked")
    }

    /// A file whose content does not match the hash in its name is read again by every run
    /// until it is gone: the message says to delete it, with a command that quotes its path.
    func testHashMismatchSaysToDeleteTheFile() throws {
        let dir = tempPath("it's here")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/tinybad-00000000.pth"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: FixtureManifest.path("tinybad-00000000.pth"), toPath: path)
        XCTAssertThrowsError(try Checkpoint(contentsOf: path)) {
            let message = "\($0)"
            XCTAssertEqual(($0 as? CheckpointError)?.category, "hash_mismatch", message)
            XCTAssertTrue(message.contains("delete it (rm -- '\(dir.replacingOccurrences(of: "'", with: "'\\''"))/tinybad-00000000.pth')"), message)
            XCTAssertFalse(message.hasSuffix("Download it again."), message)
        }
    }

    /// A whole pickled module is refused by default and yields its state dict with allowObjects.
    func testWholeModulePickleWithAllowObjects() throws {
        let manifest = try FixtureManifest.load()
        for (name, entry) in manifest where entry["inert_tensors"] != nil {
            let ckpt = try Checkpoint(contentsOf: FixtureManifest.path(name), options: LoadOptions(allowObjects: true))
            let expected = try XCTUnwrap(entry["inert_tensors"] as? [[String: Any]])
            XCTAssertEqual(ckpt.stateDict.keys, expected.map { $0["name"] as! String }, name)
            for e in expected {
                let key = e["name"] as! String
                XCTAssertEqual(ckpt.stateDict[key].map { sha256Hex($0.bytes) }, e["sha256"] as? String, "\(name): \(key)")
            }
        }
    }
}

extension XCTestCase {
    /// Checks every good fixture of `folder` against its manifest; returns how many it checked.
    @discardableResult
    func checkGoodFixtures(in folder: String) throws -> Int {
        let manifest = try FixtureManifest.load(folder)
        var checked = 0
        for (name, entry) in manifest.sorted(by: { $0.key < $1.key }) where entry["error"] == nil {
            let allow = (entry["allow_objects"] as? Bool) ?? false
            let ckpt: Checkpoint
            do {
                ckpt = try Checkpoint(contentsOf: FixtureManifest.path(name, in: folder), options: LoadOptions(allowObjects: allow))
            } catch let e as CheckpointError where entry["optional"] as? Bool == true {
                // dtypes beyond the ten Graft reads (uint16, float8...): a named refusal.
                XCTAssertEqual(e.category, "unsupported_tensor", "\(name): \(e)")
                continue
            } catch {
                XCTFail("\(name): \(error)")
                continue
            }
            XCTAssertEqual(ckpt.format.rawValue, entry["format"] as? String, name)
            let expected = try XCTUnwrap(entry["tensors"] as? [[String: Any]], name)
            XCTAssertEqual(ckpt.stateDict.keys, expected.map { $0["name"] as! String }, "\(name): keys or their order")
            for e in expected {
                let key = e["name"] as! String
                guard let t = ckpt.stateDict[key] else { continue }
                XCTAssertEqual(t.dtype.rawValue, e["dtype"] as? String, "\(name): \(key) dtype")
                XCTAssertEqual(t.shape, e["shape"] as? [Int], "\(name): \(key) shape")
                XCTAssertEqual(sha256Hex(t.bytes), e["sha256"] as? String, "\(name): \(key) values")
            }
            if entry.keys.contains("removed_prefix") {
                XCTAssertEqual(ckpt.removedPrefix, entry["removed_prefix"] as? String, name)
            }
            if entry.keys.contains("container_key") {
                XCTAssertEqual(ckpt.containerKey, entry["container_key"] as? String, name)
            }
            checked += 1
        }
        return checked
    }
}
