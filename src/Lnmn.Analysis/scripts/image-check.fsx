// Does a trained model answer from the image? Validation accuracy with each question's own image
// features, and with the features of the question half a batch away (questions come grouped by
// image, so a roll by one would mostly keep the image), per category. A model that scores the same
// both ways answers from the question alone.
//   dotnet fsi src/Lnmn.Analysis/scripts/image-check.fsx runs/<run>/checkpoints/last.ckpt [DATA_DIR]
#load "load.fsx"
open Load
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Network
open Lnmn.Analysis
open Lnmn.Train

let args = arguments "src/Lnmn.Analysis/scripts/image-check.fsx CHECKPOINT [DATA_DIR]" 1
let outcome =
    result {
        use! loaded = Loaded.openCheckpoint args.[0] (Array.tryItem 1 args) Device.Cpu None
        let! source = Loaded.split loaded "val"
        use _ = torch.no_grad ()
        let scored =
            [ for indices in Lnmn.Core.Data.Batching.sequentialBatches 64 source.Examples.Length do
                use _ = torch.NewDisposeScope()
                let b = Training.LabelledBatches.batch loaded.Device source indices
                let predict (features: torch.Tensor) =
                    loaded.Network.Forward({ b.Input with Features = features }, NodeOps.NodeEvaluation.soft).Logits.argmax(-1L).data<int64>().ToArray()
                let own, other = predict b.Input.Features, predict (b.Input.Features.roll(int64 indices.Length / 2L, 0L))
                for i, index in Array.indexed indices do
                    let e = source.Examples.[index]
                    let category = e.Category |> Option.map Lnmn.Core.Data.Clevr.Category.name |> Option.defaultValue "(no program)"
                    yield category, (int own.[i] = e.Answer), (int other.[i] = e.Answer) ]
        return scored
    }
let percent (xs: bool list) = Table.Number(100.0 * float (xs |> List.filter id |> List.length) / float (max 1 xs.Length), 2)
let row (name: Table.Cell) (rows: (string * bool * bool) list) =
    [ name; percent [ for _, a, _ in rows -> a ]; percent [ for _, _, b in rows -> b ]; Table.Number(float rows.Length, 0) ]
match outcome with
| Ok scored ->
    { Table.Columns = [ "question type"; "own image"; "another image"; "questions" ]
      Table.Rows =
        row (Table.Bold(Table.Text "Overall")) scored
        :: [ for category, rows in scored |> List.groupBy (fun (c, _, _) -> c) -> row (Table.Text category) rows ] }
    |> Table.markdown
    |> printfn "%s"
| Error e ->
    eprintfn "%s" e
    exit 1
