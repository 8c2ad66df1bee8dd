/// Progress of long work: one rewritten line on a terminal, plain lines every few seconds when the
/// output is a file or a CI log.
module Lnmn.Train.ProgressDisplay

open System
open System.Diagnostics

type Snapshot =
    { Epoch: int
      Epochs: int
      Step: int
      TotalSteps: int
      Loss: float
      Accuracy: float }

type ProgressDisplay(startStep: int, questionsPerStep: int) =
    let clock = Stopwatch.StartNew()
    let interactive = not Console.IsOutputRedirected
    let mutable lastPrint = TimeSpan.Zero
    let plainEvery = TimeSpan.FromSeconds 10.0

    let etaFormat = @"hh\:mm\:ss"

    let format (s: Snapshot) =
        let elapsed = clock.Elapsed.TotalSeconds
        let done' = s.Step - startStep
        let perSecond = if elapsed > 0.0 then float done' / elapsed else 0.0
        let eta = if perSecond > 0.0 then TimeSpan.FromSeconds(float (s.TotalSteps - s.Step) / perSecond) else TimeSpan.Zero
        $"epoch {s.Epoch + 1}/{s.Epochs}  step {s.Step}/{s.TotalSteps}  loss {s.Loss:F3}  acc {100.0 * s.Accuracy:F1}%%  {perSecond * float questionsPerStep:F1} questions/s  ETA {eta.ToString etaFormat}"

    member _.Update(s: Snapshot) =
        if interactive then
            Console.Write("\r" + (format s).PadRight(Console.WindowWidth - 1))
        elif clock.Elapsed - lastPrint >= plainEvery then
            lastPrint <- clock.Elapsed
            Console.WriteLine(format s)

    /// Ends the rewritten line before other output.
    member _.Line(text: string) =
        if interactive then Console.Write("\r" + String(' ', Console.WindowWidth - 1) + "\r")
        Console.WriteLine text
