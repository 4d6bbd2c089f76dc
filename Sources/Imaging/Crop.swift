extension RGBImage {
    /// PIL's `img.crop((left, top, left + width, top + height))`: the region may reach
    /// outside the image, where it is filled with zeros (black).
    public func cropped(left: Int, top: Int, width cw: Int, height ch: Int) throws -> RGBImage {
        guard cw >= 0, ch >= 0 else {
            throw ImagingError.invalidArgument("crop: size \(cw)x\(ch) must not be negative")
        }
        var out = [UInt8](repeating: 0, count: cw * ch * 3)
        let x0 = max(left, 0), x1 = min(left + cw, width)
        if x0 < x1 {
            let w = width
            pixels.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for y in max(top, 0)..<max(max(top, 0), min(top + ch, height)) {
                        let s = (y * w + x0) * 3, d = ((y - top) * cw + (x0 - left)) * 3
                        for i in 0..<((x1 - x0) * 3) { dst[d + i] = src[s + i] }
                    }
                }
            }
        }
        return RGBImage(unchecked: cw, ch, out)
    }

    /// torchvision's `F.center_crop(img, [height, width])` for PIL images: when the crop
    /// is larger than the image, the image is first padded with zeros (left/top get
    /// `(crop - size) // 2`, right/bottom the rest); the offset is
    /// `int(round((size - crop) / 2.0))`, Python's round-half-to-even.
    public func centerCropped(width cw: Int, height ch: Int) throws -> RGBImage {
        guard cw > 0, ch > 0 else {
            throw ImagingError.invalidArgument("center crop: size \(cw)x\(ch) must be at least 1x1")
        }
        var image = self
        if cw > width || ch > height {
            let padLeft = cw > width ? (cw - width) / 2 : 0
            let padTop = ch > height ? (ch - height) / 2 : 0
            let padRight = cw > width ? (cw - width + 1) / 2 : 0
            let padBottom = ch > height ? (ch - height + 1) / 2 : 0
            image = try cropped(left: -padLeft, top: -padTop,
                                width: width + padLeft + padRight, height: height + padTop + padBottom)
            if image.width == cw && image.height == ch { return image }
        }
        let top = Int((Double(image.height - ch) / 2.0).rounded(.toNearestOrEven))
        let left = Int((Double(image.width - cw) / 2.0).rounded(.toNearestOrEven))
        return try image.cropped(left: left, top: top, width: cw, height: ch)
    }

    /// torchvision's `F.resized_crop(img, top, left, height, width, [outHeight, outWidth])`
    /// for PIL images: crop (zero-filled outside), then resize when the size changes.
    public func resizedCrop(top: Int, left: Int, height ch: Int, width cw: Int,
                            outWidth: Int, outHeight: Int) throws -> RGBImage {
        let crop = try cropped(left: left, top: top, width: cw, height: ch)
        if crop.width == outWidth && crop.height == outHeight { return crop }
        return try crop.resized(width: outWidth, height: outHeight)
    }
}
