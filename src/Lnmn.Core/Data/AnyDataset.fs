/// Loads a dataset directory in whichever layout it has: VQA's (`VqaLayout`: the official file
/// names) or CLEVR's (`DatasetLayout`, also the built-in dataset's).
module Lnmn.Core.Data.AnyDataset

/// `vqaAnswers` sizes a VQA answer vocabulary built here (unused when `vocabulary` is given).
let load (vocabulary: Vocabulary.Vocabulary option) (vqaAnswers: int) (dir: string) : Result<Dataset.Dataset, DataError> =
    if (VqaLayout.detect dir).IsSome then VqaDataset.load vocabulary vqaAnswers dir else Dataset.loadWith vocabulary dir
