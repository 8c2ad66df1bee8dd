/// Headless Chromium (the Debian package), for PNGs of the HTML pictures and for checking that a
/// page really draws: Plotly.NET's own image export downloads a browser, which is not possible here.
module Lnmn.Analysis.Chromium

open System
open System.Diagnostics
open System.IO

/// The browser on PATH, if any.
let find () : string option =
    let dirs = (Environment.GetEnvironmentVariable "PATH" |> Option.ofObj |> Option.defaultValue "").Split(Path.PathSeparator)
    [ "chromium"; "chromium-browser"; "google-chrome" ]
    |> List.tryPick (fun name -> dirs |> Array.tryPick (fun d -> let p = Path.Combine(d, name) in if d <> "" && File.Exists p then Some p else None))

let private timeout = TimeSpan.FromSeconds 90.0

/// Runs the browser headless on a local file; Ok stdout, or Error with the reason.
let private run (browser: string) (args: string list) (page: string) : Result<string, string> =
    let profile = Path.Combine(Path.GetTempPath(), $"lnmn-chromium-{Guid.NewGuid():N}")
    let psi =
        ProcessStartInfo(browser, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    for a in [ "--headless"; "--no-sandbox"; "--disable-gpu"; "--hide-scrollbars"; $"--user-data-dir={profile}"; "--virtual-time-budget=10000" ] @ args do
        psi.ArgumentList.Add a
    psi.ArgumentList.Add(Uri(Path.GetFullPath page).AbsoluteUri)
    try
        use p = Process.Start psi
        let output = p.StandardOutput.ReadToEndAsync()
        let errors = p.StandardError.ReadToEndAsync()
        if not (p.WaitForExit timeout) then
            p.Kill true
            Error $"{browser} did not finish within {timeout.TotalSeconds} s on {page}"
        elif p.ExitCode <> 0 then
            Error $"{browser} exited with {p.ExitCode} on {page}: {errors.Result.Trim().Split('\n') |> Array.last}"
        else Ok output.Result
    finally
        try Directory.Delete(profile, true) with _ -> ()

/// A PNG of the page at the given window size.
let screenshot (browser: string) (page: string) (png: string) (width: int, height: int) : Result<unit, string> =
    run browser [ $"--screenshot={Path.GetFullPath png}"; $"--window-size={width},{height}" ] page
    |> Result.bind (fun _ -> if File.Exists png then Ok() else Error $"{browser} wrote no screenshot of {page}")

/// The one way a plot becomes a PNG: its page without plotly's toolbar (`Plots.still`), which a still
/// image cannot use, shot at the figure's size (the still page is written beside the PNG for the
/// browser, then removed). Ok the PNG's path, or Error why there is none (no browser: None).
let plotPng (browser: string option) (page: string) (figure: Plots.Figure) (png: string) : Result<string, string> =
    match browser with
    | None -> Error "no chromium on PATH"
    | Some browser ->
        let still = Path.ChangeExtension(png, ".still.html")
        File.WriteAllText(still, Plots.still page)
        let shot = screenshot browser still png (figure.Width, figure.Height)
        File.Delete still
        shot |> Result.map (fun () -> png)

/// The page's DOM after its scripts ran.
let dumpDom (browser: string) (page: string) : Result<string, string> = run browser [ "--dump-dom" ] page

/// Whether plotly drew the page: its SVG (class "main-svg") is in the DOM.
let drawsPlot (dom: string) = dom.Contains "main-svg"

/// The browser on PATH if it can screenshot a page here, else why not (one line).
let usable () : Result<string, string> =
    match find () with
    | None -> Error "no chromium on PATH"
    | Some browser ->
        let dir = Path.Combine(Path.GetTempPath(), $"lnmn-chromium-probe-{Guid.NewGuid():N}")
        Directory.CreateDirectory dir |> ignore
        try
            let page = Path.Combine(dir, "probe.html")
            File.WriteAllText(page, "<!DOCTYPE html><p>probe</p>")
            screenshot browser page (Path.Combine(dir, "probe.png")) (64, 64) |> Result.map (fun () -> browser)
        finally
            Directory.Delete(dir, true)
