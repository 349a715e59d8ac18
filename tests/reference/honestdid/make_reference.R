# Reference values for tests/test_honest_did.py: R HonestDiD's relative-magnitudes sensitivity analysis
# (createSensitivityResults_relativeMagnitudes, default method "C-LF") on the package's own
# Benzarti-Carloni (2019) event study (data(BCdata_EventStudy)).
#
# Also on an ipf_eval event study (ipf_sim_event_study.csv: simulated data, see README.md), and the
# least-favourable critical values of the C-LF test (internal .compute_least_favorable_cv, seed 0).
#
# Run from this folder:  Rscript make_reference.R > honestdid_reference.json
# See README.md for the package versions that produced the committed file.
suppressPackageStartupMessages(library(HonestDiD))
data(BCdata_EventStudy)

num <- function(x) {
  x <- as.numeric(x)
  paste0("[", paste(ifelse(is.finite(x), sprintf("%.17g", x), "null"), collapse = ", "), "]")
}
mat <- function(m) paste0("[", paste(apply(m, 1, num), collapse = ", "), "]")

betahat <- BCdata_EventStudy$betahat
sigma <- BCdata_EventStudy$sigma
npre <- length(BCdata_EventStudy$prePeriodIndices)
npost <- length(BCdata_EventStudy$postPeriodIndices)
sim <- read.csv("ipf_sim_event_study.csv")
sim <- sim[order(sim$event_time), ]
sim_sigma <- as.matrix(sim[, grep("^sigma_", names(sim))])
dimnames(sim_sigma) <- NULL

cases <- list(
  list(name = "bc_first_post", betahat = betahat, sigma = sigma, npre = npre, npost = npost,
       l_vec = basisVector(1, npost), mbar = c(0, 0.5, 1, 1.5, 2), grid = NULL),
  list(name = "bc_average_post", betahat = betahat, sigma = sigma, npre = npre, npost = npost,
       l_vec = rep(1, npost) / npost, mbar = c(0, 0.5, 1, 1.5, 2), grid = NULL),
  list(name = "bc_second_post_grid", betahat = betahat, sigma = sigma, npre = npre, npost = npost,
       l_vec = basisVector(2, npost), mbar = c(0.5, 1, 2),
       grid = list(points = 100, lb = -1, ub = 1)),
  list(name = "ipf_sim_average_post", betahat = sim$betahat, sigma = sim_sigma, npre = 4, npost = 6,
       l_vec = rep(1, 6) / 6, mbar = c(0, 0.5, 1, 1.5, 2), grid = NULL),
  list(name = "bc_one_post", betahat = betahat[1:(npre + 1)], sigma = sigma[1:(npre + 1), 1:(npre + 1)],
       npre = npre, npost = 1, l_vec = basisVector(1, 1), mbar = c(0, 0.5, 1, 1.5), grid = NULL)
)

out <- character(0)
for (cs in cases) {
  args <- list(betahat = cs$betahat, sigma = cs$sigma, numPrePeriods = cs$npre,
               numPostPeriods = cs$npost, l_vec = cs$l_vec, Mbarvec = cs$mbar)
  if (!is.null(cs$grid)) {
    args$gridPoints <- cs$grid$points
    args$grid.lb <- cs$grid$lb
    args$grid.ub <- cs$grid$ub
  }
  rob <- suppressWarnings(do.call(createSensitivityResults_relativeMagnitudes, args))
  orig <- constructOriginalCS(betahat = cs$betahat, sigma = cs$sigma, numPrePeriods = cs$npre,
                              numPostPeriods = cs$npost, l_vec = cs$l_vec)
  grid <- if (is.null(cs$grid)) "null" else
    sprintf('{"points": %d, "lb": %s, "ub": %s}', cs$grid$points,
            sprintf("%.17g", cs$grid$lb), sprintf("%.17g", cs$grid$ub))
  out <- c(out, paste0(
    '  "', cs$name, '": {\n',
    '    "num_pre": ', cs$npre, ', "num_post": ', cs$npost, ',\n',
    '    "betahat": ', num(cs$betahat), ',\n',
    '    "sigma": ', mat(cs$sigma), ',\n',
    '    "l_vec": ', num(cs$l_vec), ',\n',
    '    "grid": ', grid, ',\n',
    '    "mbar": ', num(rob$Mbar), ',\n',
    '    "lb": ', num(rob$lb), ',\n',
    '    "ub": ', num(rob$ub), ',\n',
    '    "method": "', unique(rob$method), '",\n',
    '    "original_lb": ', num(orig$lb), ', "original_ub": ', num(orig$ub), '\n',
    '  }'))
}
# Least-favourable critical values, as .ARP_computeCI computes them, for every (s, sign) at Mbar = 1
lf <- character(0)
for (cs in cases[c(1, 2)]) {
  for (s in (-(cs$npre - 1)):0) {
    for (mp in c(TRUE, FALSE)) {
      A <- HonestDiD:::.create_A_RM(cs$npre, cs$npost, Mbar = 1, s = s, max_positive = mp)
      post <- (cs$npre + 1):(cs$npre + cs$npost)
      rows <- which(rowSums(A[, post] != 0) > 0)
      X <- (A[, post] %*% solve(HonestDiD:::.construct_Gamma(cs$l_vec)))[, -1]
      cv <- HonestDiD:::.compute_least_favorable_cv(X_T = X, sigma = A %*% cs$sigma %*% t(A),
                                                     hybrid_kappa = 0.05 / 10, rowsForARP = rows)
      lf <- c(lf, sprintf('    {"case": "%s", "s": %d, "max_positive": %s, "mbar": 1, "lf_cv": %.17g}',
                          cs$name, s, tolower(mp), cv))
    }
  }
}
out <- c(out, paste0('  "lf_cv": [\n', paste(lf, collapse = ",\n"), '\n  ]'))
# R's normal draws (Mersenne-Twister, inversion) behind the least-favourable critical values
set.seed(0); rn0 <- rnorm(6)
set.seed(2024); rn1 <- rnorm(6)
out <- c(out, paste0('  "r_rnorm": {"seed_0": ', num(rn0), ', "seed_2024": ', num(rn1), '}'))
cat("{\n", paste(out, collapse = ",\n"), "\n}\n", sep = "")
