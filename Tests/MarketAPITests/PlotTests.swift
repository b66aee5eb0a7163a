import Foundation
import MarketConsole
import Testing

/// The console's SVG plots: every number in a table beneath, text escaped, nothing that is not a number in
/// the drawing, nothing that loads from elsewhere.
@Suite struct PlotTests {
    static let text = PlotText(title: "Orders <per> day", xName: "day", unit: "orders", table: "Table")

    static func checkDrawing(_ html: HTML, sourceLocation: SourceLocation = #_sourceLocation) {
        let markup = html.text
        for forbidden in ["NaN", "nan,", "inf", "<script", "style=", "href", "xlink", "http"] {
            #expect(!markup.contains(forbidden), "\(forbidden) in the plot", sourceLocation: sourceLocation)
        }
        #expect(markup.hasPrefix("<figure class=\"plot") && markup.contains("<svg") && markup.contains("<details class=\"plot-table\">"),
                sourceLocation: sourceLocation)
        #expect(markup.contains("Orders &lt;per&gt; day") && !markup.contains("Orders <per> day"), sourceLocation: sourceLocation)
    }

    @Test func aLinePlotHasItsSeriesItsAxesAndEveryValueInItsTable() {
        let days = (1...30).map { "2026-11-\($0 < 10 ? "0" : "")\($0)" }
        let plot = Plot.line(Self.text, x: days, series: [PlotSeries(name: "opened", values: (1...30).map { Double($0 * 3) }),
                                                          PlotSeries(name: "<b>ordered</b>", values: (1...30).map { $0 == 15 ? nil : Double($0) })])
        Self.checkDrawing(plot)
        let markup = plot.text
        #expect(markup.contains("class=\"series s0\"") && markup.contains("class=\"series s1\""))
        #expect(markup.components(separatedBy: "class=\"series s1\"").count - 1 == 2, "a missing value breaks the line in two")
        #expect(markup.contains("&lt;b&gt;ordered&lt;/b&gt;") && !markup.contains("<b>ordered"))
        for value in ["90", "45", "2026-11-30"] { #expect(markup.contains(">\(value)<"), "\(value) in the table") }
        #expect(markup.contains(">orders<"), "the unit on the value axis")
    }

    @Test func emptyAndDegenerateDataDrawAxesAndSayThereIsNone() {
        Self.checkDrawing(Plot.line(Self.text, x: [], series: []))
        Self.checkDrawing(Plot.line(Self.text, x: ["a", "b"], series: [PlotSeries(name: "zero", values: [0, 0])]))
        Self.checkDrawing(Plot.bars(Self.text, bars: []))
        Self.checkDrawing(Plot.bars(Self.text, bars: [("not a number", .nan), ("endless", .infinity), ("negative", -5)]))
        Self.checkDrawing(Plot.histogram(Self.text, bins: []))
        #expect(Plot.line(Self.text, x: [], series: []).text.contains("no data"))
    }

    @Test func barsWriteTheirValuesAndTheMarksOfASecondFigure() {
        let plot = Plot.bars(Self.text, bars: [("上海数智运营有限公司 Shanghai Shuzhi Operations Ltd", 1_234_567), ("b", 10)],
                             secondary: [2_000_000, nil], secondaryName: "allowed")
        Self.checkDrawing(plot)
        let markup = plot.text
        #expect(markup.contains("1,234,567") && markup.contains("2,000,000") && markup.contains("class=\"marker\"") && markup.contains("allowed"))
        #expect(markup.contains("<title>上海数智运营有限公司 Shanghai Shuzhi Operations Ltd</title>"), "the whole label on hover")
        #expect(markup.contains("…"), "a long label is shortened in the drawing")
    }

    @Test func aHistogramLabelsItsBinEdges() {
        let plot = Plot.histogram(Self.text, bins: [(0, 60, 5), (60, 300, 2), (300, .infinity, 1)], edgeFormat: { "\(Int($0.isFinite ? $0 : 0))s" })
        Self.checkDrawing(plot)
        #expect(plot.text.contains("60s") && plot.text.contains("300s") && plot.text.contains(">5<"))
    }

    @Test func htmlEscapesEveryInterpolatedValue() {
        let hostile = "\"><script>alert('x')</script>&"
        let html: HTML = "<p title=\"\(hostile)\">\(hostile)</p>"
        #expect(html.text == "<p title=\"&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</p>")
        #expect(HTML.escape("plain 文本") == "plain 文本")
    }
}
