/// Loads a dataset directory in whichever layout it has: VQA's (`VqaLayout`: the official file
/// names) or CLEVR's (`DatasetLayout`, also the built-in dataset's).
module Lnmn.Core.Data.AnyDataset

/// `vqaAnswers` sizes a VQA answer vocabulary built here (used when `origin` is `FromTraining`).
let load (origin: Vocabulary.Origin) (vqaAnswers: int) (dir: string) : Result<Dataset.Dataset, DataError> =
    if (VqaLayout.detect dir).IsSome then VqaDataset.load origin vqaAnswers dir else Dataset.loadWith origin dir
