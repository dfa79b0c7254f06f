"""Measure per-layer rate and pair spike correlation at width W, depth 20, one step, Cauchy init."""
import sys, time, numpy as np
from theory.regimes import heavy_tailed as ht
from theory import inits
from simulate.network import run_network
W=int(sys.argv[1]); D=int(sys.argv[2]); rate=float(sys.argv[3]); draws=int(sys.argv[4]); steps=int(sys.argv[5]) if len(sys.argv)>5 else 1
beta=float(sys.argv[6]) if len(sys.argv)>6 else 0.0
import os
gain=ht.gain_for_rate(rate,1.0); r0=0.2; c0=float(os.environ.get("C0","0.5")); P=8
t=time.time()
rates=[]; corrs=[]
for d in range(draws):
    rng=np.random.default_rng([11,d])
    w=[inits.sample_weights("stable",W,W,rng,threshold=1.0,gain=gain) for _ in range(D)]
    a=(rng.random((steps,P,W))<r0); same=rng.random((steps,P,W))<c0; b=np.where(same,a,rng.random((steps,P,W))<r0)
    x=np.concatenate([a,b],axis=1).astype(np.float32)
    res=run_network(w,x,beta=beta,threshold=1.0,input_is_spikes=True,record_spikes=True)
    rr=[];cc=[]
    for s in res.spikes:
        sa=s[:, :P].astype(float); sb=s[:, P:].astype(float)
        r=(sa.mean()+sb.mean())/2; rr.append(r)
        cc.append((np.mean(sa*sb)-r*r)/(r*(1-r)) if 0<r<1 else np.nan)
    rates.append(rr); corrs.append(cc)
rates=np.array(rates); corrs=np.array(corrs)
mr, mc = ht.propagate_pair(D,1.0,gain,rate0=r0,correlation0=c0)
ch=ht.count_chain(D,W,1.0,gain,rate0=r0)
print("time",time.time()-t)
for l in range(D+1):
    print(l, f"sim r {rates[:,l].mean():.4f}+-{rates[:,l].std(ddof=1)/np.sqrt(draws):.4f} chain {ch.rate[l]:.4f} mf {mr[l]:.4f} | sim c {np.nanmean(corrs[:,l]):.4f}+-{np.nanstd(corrs[:,l],ddof=1)/np.sqrt(draws):.4f} mf {mc[l]:.4f}")
