// Integrated gradients of α (paper Table 5) on the first N questions of a split, with its own
// number of Riemann steps: the attributions summed over nodes, and over questions.
//   dotnet fsi src/Lnmn.Analysis/scripts/ig.fsx CHECKPOINT [QUESTIONS=200] [STEPS=16] [val|train]
// The data is the one the checkpoint records, from any working directory.
#load "load.fsx"
open Load
open Lnmn.Core
open Lnmn.Core.Data
open Lnmn.Analysis
open Lnmn.Train

let args = arguments "src/Lnmn.Analysis/scripts/ig.fsx CHECKPOINT [QUESTIONS] [STEPS] [val|train]" 1
let at i fallback = if args.Length > i then args.[i] else fallback
let questions, steps, split = int (at 1 "200"), int (at 2 "16"), at 3 "val"

let outcome =
    result {
        use! loaded = Loaded.openCheckpoint args.[0] None Device.Cpu None
        let! whole = Loaded.split loaded split
        let source = { whole with Examples = Array.truncate questions whole.Examples }
        let batches =
            Batching.sequentialBatches loaded.Metadata.Training.BatchSize source.Examples.Length
            |> Seq.map (Training.LabelledBatches.batch loaded.Device source)
        let rows = IntegratedGradients.byModule loaded.Network (IntegratedGradients.attributionsOver loaded.Network batches steps)
        printfn "IG of α, %s split, %d questions, %d steps\n\n%s" split source.Examples.Length steps (Table.markdown (IntegratedGradients.table rows))
    }
match outcome with
| Ok() -> ()
| Error e ->
    eprintfn "%s" e
    exit 1
