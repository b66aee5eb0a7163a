/// One named series of a line plot (values aligned with the plot's x labels; nil = no value that day).
public struct PlotSeries: Sendable {
    public var name: String
    public var values: [Double?]
    public init(name: String, values: [Double?]) { self.name = name; self.values = values }
}

/// Labels a plot needs in the reader's language (the caller translates).
public struct PlotText: Sendable {
    /// Shown as the `<figcaption>` and the svg's `aria-label`.
    public var title: String
    /// The x axis name, also the table's first column header.
    public var xName: String
    /// The value axis unit, e.g. "demands", "ms", "元".
    public var unit: String
    /// The text of the `<summary>` that opens the table fallback, e.g. "Table" / "表格".
    public var table: String
    public init(title: String, xName: String, unit: String, table: String) {
        self.title = title; self.xName = xName; self.unit = unit; self.table = table
    }
}

/// Server-rendered SVG plots (no script, no external reference, colours only through CSS classes), each in a
/// `<figure>` with a caption and a `<details>` table holding every number shown. All text goes through `HTML`.
public enum Plot {
    /// Lines over categorical x (usually days): every x label is a tick when there are ≤ 12, else about 8 evenly
    /// spaced ones. A polyline per run of non-nil values (class `s0`…`s5` by series), dots when ≤ 31 points, a legend.
    public static func line(_ text: PlotText, x: [String], series: [PlotSeries]) -> HTML {
        let n = x.count
        let values = series.map { s in (0..<n).map { i in i < s.values.count ? clean(s.values[i]) : nil } }
        let all = values.flatMap { $0.compactMap { $0 } }
        let scale = PlotScale(min: all.min() ?? 0, max: all.max() ?? 0, integer: false)
        var legend: [HTML] = [], lx = scale.axisX, row = 0
        for (k, s) in series.enumerated() {
            let name = truncated(s.name), w = 30 + width(name)
            if lx + w > 632, lx > scale.axisX { lx = scale.axisX; row += 1 }
            let y = 14 + 16 * Double(row)
            legend.append("<rect x=\"\(c(lx))\" y=\"\(c(y - 8))\" width=\"12\" height=\"8\" class=\"swatch s\(k % 6)\"/><text x=\"\(c(lx + 16))\" y=\"\(c(y))\" class=\"label legend\"><title>\(s.name)</title>\(name)</text>\n")
            lx += w
        }
        let x0 = scale.axisX, x1 = 604.0, top = 38 + 16 * Double(row), bottom = top + 174
        let px = { (i: Int) in x0 + (x1 - x0) * (Double(i) + 0.5) / Double(max(n, 1)) }
        let py = { (v: Double) in bottom - scale.fraction(v) * (bottom - top) }
        var body = HTML(legend) + valueAxis(scale, x0: x0, x1: x1, top: top, bottom: bottom, unit: text.unit)
        body += xTicks(tickIndices(n).map { (px($0), x[$0]) }, y: bottom) + xName(text.xName, x: (x0 + x1) / 2, y: bottom + 40)
        for (k, vals) in values.enumerated() {
            let cls = "s\(k % 6)"
            var runs: [[Int]] = [[]]
            for i in 0..<n { if vals[i] == nil { runs.append([]) } else { runs[runs.count - 1].append(i) } }
            for run in runs where !run.isEmpty {
                let points = run.compactMap { i in vals[i].map { "\(c(px(i))),\(c(py($0)))" } }.joined(separator: " ")
                body += run.count > 1 ? "<polyline points=\"\(points)\" fill=\"none\" class=\"series \(cls)\"/>\n" : .empty
            }
            for i in 0..<n { // dots: all when few points, else only isolated values (a run of one has no line)
                guard let v = vals[i], n <= 31 || ((i == 0 || vals[i - 1] == nil) && (i == n - 1 || vals[i + 1] == nil)) else { continue }
                body += "<circle cx=\"\(c(px(i)))\" cy=\"\(c(py(v)))\" r=\"2.5\" class=\"point \(cls)\"><title>\(series[k].name) · \(x[i]): \(number(v))</title></circle>\n"
            }
        }
        if all.isEmpty { body += noData(x: (x0 + x1) / 2, y: (top + bottom) / 2) }
        let rows = (0..<n).map { i in [x[i]] + values.map { $0[i].map(number) ?? "" } }
        return figure("line", text, height: bottom + 48, body, table([text.xName] + series.map(\.name), rows))
    }

    /// Horizontal bars (label → value) in the order given, the value (written by `format`, also used for the value
    /// axis ticks) at each bar's end; `secondary` (optional, per bar) is drawn as a thin `marker` line across the bar.
    public static func bars(_ text: PlotText, bars: [(label: String, value: Double)], secondary: [Double?]? = nil, secondaryName: String? = nil,
                            format: @Sendable (Double) -> String = Plot.number) -> HTML {
        let n = bars.count, values = bars.map { clean($0.value) }
        let seconds = (0..<n).map { i in secondary.flatMap { i < $0.count ? clean($0[i]) : nil } }
        let all = values.compactMap { $0 } + seconds.compactMap { $0 }
        let x0 = 184.0, x1 = 556.0, top = 30.0, bottom = top + 22 * Double(max(n, 2))
        let scale = PlotScale(min: all.min() ?? 0, max: all.max() ?? 0, integer: false)
        let px = { (v: Double) in x0 + scale.fraction(v) * (x1 - x0) }
        var body: HTML = "<text x=\"\(c(x0 - 8))\" y=\"\(c(top - 10))\" text-anchor=\"end\" class=\"label axis-name\">\(truncated(text.xName))</text>\n"
        if secondary != nil, let name = secondaryName {
            body += "<line x1=\"\(c(x0 + 4))\" y1=\"\(c(top - 20))\" x2=\"\(c(x0 + 4))\" y2=\"\(c(top - 8))\" class=\"marker\"/><text x=\"\(c(x0 + 12))\" y=\"\(c(top - 10))\" class=\"label legend\">\(truncated(name))</text>\n"
        }
        for t in scale.ticks {
            body += "<line x1=\"\(c(px(t)))\" y1=\"\(c(top))\" x2=\"\(c(px(t)))\" y2=\"\(c(bottom))\" class=\"grid\"/><text x=\"\(c(px(t)))\" y=\"\(c(bottom + 14))\" text-anchor=\"middle\" class=\"label tick\">\(safe(format, t))</text>\n"
        }
        body += "<line x1=\"\(c(px(0)))\" y1=\"\(c(top))\" x2=\"\(c(px(0)))\" y2=\"\(c(bottom))\" class=\"axis\"/><line x1=\"\(c(x0))\" y1=\"\(c(bottom))\" x2=\"\(c(x1))\" y2=\"\(c(bottom))\" class=\"axis\"/>\n"
        body += xName(text.unit, x: (x0 + x1) / 2, y: bottom + 32)
        for (i, bar) in bars.enumerated() {
            let y = top + 22 * Double(i)
            body += "<text x=\"\(c(x0 - 8))\" y=\"\(c(y + 15))\" text-anchor=\"end\" class=\"label\"><title>\(bar.label)</title>\(truncated(bar.label))</text>\n"
            if let v = values[i] {
                let a = min(px(0), px(v)), b = max(px(0), px(v))
                body += "<rect x=\"\(c(a))\" y=\"\(c(y + 4))\" width=\"\(c(b - a))\" height=\"14\" class=\"bar\"><title>\(bar.label): \(format(v))</title></rect>\n"
                let end = v < 0 ? min(a, seconds[i].map(px) ?? a) - 4 : max(b, seconds[i].map(px) ?? b) + 4 // clear of the marker
                body += "<text x=\"\(c(end))\" y=\"\(c(y + 15))\" text-anchor=\"\(v < 0 ? "end" : "start")\" class=\"label value\">\(format(v))</text>\n"
            }
            if let s = seconds[i] {
                body += "<line x1=\"\(c(px(s)))\" y1=\"\(c(y + 1))\" x2=\"\(c(px(s)))\" y2=\"\(c(y + 21))\" class=\"marker\"><title>\(bar.label) · \(secondaryName ?? ""): \(format(s))</title></line>\n"
            }
        }
        if n == 0 { body += noData(x: (x0 + x1) / 2, y: (top + bottom) / 2) }
        let header = [text.xName, text.unit] + (secondary == nil ? [] : [secondaryName ?? ""])
        let rows = bars.enumerated().map { i, bar in [bar.label, safe(format, bar.value)] + (secondary == nil ? [] : [seconds[i].map(format) ?? ""]) }
        return figure("bars", text, height: bottom + 40, body, table(header, rows))
    }

    /// A histogram of contiguous bins [lower, upper) with counts, drawn as equal-width columns; x ticks at the bin
    /// edges (about 8 when there are more than 12 edges), written by `edgeFormat` (an infinite edge is "∞").
    public static func histogram(_ text: PlotText, bins: [(lower: Double, upper: Double, count: Int)], edgeFormat: @Sendable (Double) -> String = Plot.number) -> HTML {
        let scale = PlotScale(min: 0, max: Double(bins.map { max($0.count, 0) }.max() ?? 0), integer: true)
        let n = bins.count, x0 = scale.axisX, x1 = 604.0, top = 26.0, bottom = 212.0, w = (x1 - x0) / Double(max(n, 1))
        var body = valueAxis(scale, x0: x0, x1: x1, top: top, bottom: bottom, unit: text.unit)
        let edges = n == 0 ? [] : bins.map(\.lower) + [bins[n - 1].upper]
        body += xTicks(tickIndices(edges.count).map { (x0 + w * Double($0), safe(edgeFormat, edges[$0])) }, y: bottom)
        body += xName(text.xName, x: (x0 + x1) / 2, y: bottom + 40)
        for (i, bin) in bins.enumerated() where bin.count > 0 {
            let h = scale.fraction(Double(bin.count)) * (bottom - top)
            body += "<rect x=\"\(c(x0 + w * Double(i) + 0.5))\" y=\"\(c(bottom - h))\" width=\"\(c(max(w - 1, 0.5)))\" height=\"\(c(h))\" class=\"bar\"><title>[\(safe(edgeFormat, bin.lower)), \(safe(edgeFormat, bin.upper))): \(number(Double(bin.count)))</title></rect>\n"
        }
        if n == 0 { body += noData(x: (x0 + x1) / 2, y: (top + bottom) / 2) }
        let rows = bins.map { ["[\(safe(edgeFormat, $0.lower)), \(safe(edgeFormat, $0.upper)))", number(Double($0.count))] }
        return figure("histogram", text, height: bottom + 48, body, table([text.xName, text.unit], rows))
    }

    /// The default number format: a whole value as an integer with thousands separators ("1,234,567"), any other
    /// with 2 decimals ("1,234.50"); "–" for NaN, "∞" / "−∞" for infinities; a magnitude too large to write exactly
    /// (≥ 10¹⁶ whole, ≥ 10¹⁴ otherwise) falls back to Swift's `description` ("1e+20").
    public static func number(_ value: Double) -> String { fixed(value, decimals: value == value.rounded() ? 0 : 2) }
}

// MARK: - Helpers

/// A value axis from 0 (or the lowest value, if negative) to at least the highest, in 4–6 ticks of a nice step.
private struct PlotScale {
    var ticks: [Double]

    init(min a: Double, max b: Double, integer: Bool) {
        let lo = Swift.min(0, a)
        var hi = Swift.max(0, b)
        if !(hi - lo >= 1e-9) { hi = lo + 1 }
        if integer { hi = Swift.max(hi, lo + 3) }
        var p = 1.0
        while p > (hi - lo) / 5 { p /= 10 }
        while p * 10 <= (hi - lo) / 5 { p *= 10 }
        let steps = [1, 2, 2.5, 5, 10, 20, 25, 50].map { $0 * p }.filter { !integer || ($0 >= 1 && $0 == $0.rounded()) }
        let bounds = { (s: Double) in ((lo / s + 1e-9).rounded(.down), (hi / s - 1e-9).rounded(.up)) }
        let step = steps.first { bounds($0).1 - bounds($0).0 <= 5 } ?? 50 * p
        let (k0, k1) = bounds(step)
        ticks = (Int(k0)...Swift.max(Int(k0) + 1, Int(k1))).map { Double($0) * step }
    }

    var low: Double { ticks.first ?? 0 }
    var high: Double { ticks.last ?? 1 }
    /// Decimals the tick labels need (those of the step, at most 6).
    var decimals: Int {
        let step = ticks.count > 1 ? ticks[1] - ticks[0] : 1
        var d = 0, s = step
        while d < 6, abs(s - s.rounded()) > 1e-6 * Swift.max(1, abs(s)) { d += 1; s *= 10 }
        return d
    }
    /// The tick labels, and where a vertical axis must stand for them to fit at its left (at least 64).
    var labels: [String] { ticks.map { fixed($0, decimals: decimals) } }
    var axisX: Double { Swift.max(64, (labels.map(width).max() ?? 0) + 12) }
    /// Where `v` lies, 0 at the lowest tick and 1 at the highest.
    func fraction(_ v: Double) -> Double { high > low ? Swift.min(Swift.max((v - low) / (high - low), 0), 1) : 0 }
}

/// A finite value (clamped to ±1e300 so differences stay finite), or nil.
private func clean(_ v: Double?) -> Double? { v.flatMap { $0.isFinite ? min(max($0, -1e300), 1e300) : nil } }

/// `format(v)`, except that a value that is not finite is written by us (so no "nan" or "inf" reaches the page).
private func safe(_ format: (Double) -> String, _ v: Double) -> String { v.isFinite ? format(v) : v.isNaN ? "–" : v > 0 ? "∞" : "−∞" }

/// An SVG coordinate with at most 1 decimal ("12", "12.5", "-3.1").
private func c(_ v: Double) -> String {
    let r = Int((v.isFinite ? min(max(v, -1e6), 1e6) * 10 : 0).rounded())
    return (r < 0 ? "-" : "") + "\(abs(r) / 10)" + (abs(r) % 10 == 0 ? "" : ".\(abs(r) % 10)")
}

/// A number with `decimals` decimals and thousands separators, without Foundation.
private func fixed(_ v: Double, decimals: Int) -> String {
    guard v.isFinite else { return safe({ _ in "" }, v) }
    var scale: UInt64 = 1
    for _ in 0..<decimals { scale *= 10 }
    guard abs(v) * Double(scale) < 1e16 else { return "\(v)" }
    let r = UInt64((abs(v) * Double(scale)).rounded()), whole = String(r / scale)
    var grouped = ""
    for (i, ch) in whole.enumerated() { if i > 0, (whole.count - i) % 3 == 0 { grouped += "," }; grouped.append(ch) }
    let fraction = String(r % scale)
    return (v < 0 && r != 0 ? "-" : "") + grouped + (decimals == 0 ? "" : "." + String(repeating: "0", count: decimals - fraction.count) + fraction)
}

/// Rough text width in px (a wide script character counts as two narrow ones).
private func width(_ s: String) -> Double { s.reduce(0) { $0 + (($1.unicodeScalars.first?.value ?? 0) < 0x1100 ? 6 : 11) } }

/// `s` cut to about 28 narrow characters, with "…".
private func truncated(_ s: String, _ limit: Double = 170) -> String {
    guard width(s) > limit else { return s }
    var out = ""
    for ch in s where width(out + String(ch)) <= limit - 8 { out.append(ch) }
    return out + "…"
}

/// All indices of `count` ticks when ≤ 12, else 8 spread evenly (first and last included).
private func tickIndices(_ count: Int) -> [Int] {
    guard count > 12 else { return Array(0..<count) }
    return (0...7).map { Int((Double($0 * (count - 1)) / 7).rounded()) }
}

/// Horizontal gridlines, tick labels and the axis lines of a vertical value axis, its unit above it.
private func valueAxis(_ scale: PlotScale, x0: Double, x1: Double, top: Double, bottom: Double, unit: String) -> HTML {
    var out: HTML = "<text x=\"6\" y=\"\(c(top - 10))\" class=\"label unit\">\(truncated(unit))</text>\n"
    for (t, label) in zip(scale.ticks, scale.labels) {
        let y = bottom - scale.fraction(t) * (bottom - top)
        out += "<line x1=\"\(c(x0))\" y1=\"\(c(y))\" x2=\"\(c(x1))\" y2=\"\(c(y))\" class=\"grid\"/><text x=\"\(c(x0 - 6))\" y=\"\(c(y + 4))\" text-anchor=\"end\" class=\"label tick\">\(label)</text>\n"
    }
    return out + "<line x1=\"\(c(x0))\" y1=\"\(c(top))\" x2=\"\(c(x0))\" y2=\"\(c(bottom))\" class=\"axis\"/><line x1=\"\(c(x0))\" y1=\"\(c(bottom))\" x2=\"\(c(x1))\" y2=\"\(c(bottom))\" class=\"axis\"/>\n"
}

/// Tick marks and labels under a horizontal axis at `y`; every other label drops a line when they would overlap.
private func xTicks(_ ticks: [(x: Double, label: String)], y: Double) -> HTML {
    let gap = zip(ticks.dropFirst(), ticks).map { $0.x - $1.x }.min() ?? .infinity
    let stagger = (ticks.map { width(truncated($0.label)) }.max() ?? 0) + 6 > gap
    return HTML(ticks.enumerated().map { i, t in
        "<line x1=\"\(c(t.x))\" y1=\"\(c(y))\" x2=\"\(c(t.x))\" y2=\"\(c(y + 4))\" class=\"axis\"/><text x=\"\(c(t.x))\" y=\"\(c(y + 15 + (stagger && i % 2 == 1 ? 12 : 0)))\" text-anchor=\"middle\" class=\"label tick\">\(truncated(t.label))</text>\n"
    })
}

private func xName(_ name: String, x: Double, y: Double) -> HTML {
    "<text x=\"\(c(x))\" y=\"\(c(y))\" text-anchor=\"middle\" class=\"label axis-name\">\(truncated(name))</text>\n"
}

private func noData(x: Double, y: Double) -> HTML {
    "<text x=\"\(c(x))\" y=\"\(c(y))\" text-anchor=\"middle\" class=\"label no-data\">no data</text>\n"
}

/// The table fallback: a header row, then one row per x / bar / bin, its first cell a row header.
private func table(_ header: [String], _ rows: [[String]]) -> HTML {
    let head = HTML(header.map { "<th scope=\"col\">\($0)</th>" })
    let body = HTML(rows.map { row in
        "<tr>\(HTML(row.enumerated().map { i, cell in i == 0 ? "<th scope=\"row\">\(cell)</th>" : "<td>\(cell)</td>" }))</tr>\n"
    })
    return "<table><thead><tr>\(head)</tr></thead><tbody>\n\(body)</tbody></table>"
}

private func figure(_ kind: String, _ text: PlotText, height: Double, _ svg: HTML, _ table: HTML) -> HTML {
    """
    <figure class="plot plot-\(kind)"><svg viewBox="0 0 640 \(c(height))" role="img" aria-label="\(text.title)" preserveAspectRatio="xMidYMid meet" class="plot-svg">
    \(svg)</svg><figcaption>\(text.title)</figcaption><details class="plot-table"><summary>\(text.table)</summary>\(table)</details></figure>
    """
}
